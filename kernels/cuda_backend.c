/* cuda_backend.c: the one place that knows whether CUDA was compiled in. The table itself is defined in
 * kernels/cuda/device.cu; without CUDA the pointer is NULL and every caller reports "built without CUDA". */
#include "device_api.h"

#ifdef AVSL_HAVE_CUDA
extern const avsl_device_api avsl_cuda_api_table;
const avsl_device_api *const avsl_cuda_api = &avsl_cuda_api_table;
#else
const avsl_device_api *const avsl_cuda_api = NULL;
#endif
