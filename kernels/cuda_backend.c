/* cuda_backend.c: the one place that knows whether CUDA was compiled in. The tables themselves are defined in
 * kernels/cuda/device.cu and kernels/cuda/table.cu; without CUDA the pointers are NULL and every caller reports
 * "built without CUDA". */
#include "device_api.h"
#include "op_backend.h"

#ifdef AVSL_HAVE_CUDA
extern const avsl_device_api avsl_cuda_api_table;
const avsl_device_api *const avsl_cuda_api = &avsl_cuda_api_table;
extern const op_backend op_backend_cuda_table; /* kernels/cuda/table.cu */
const op_backend *const op_backend_cuda = &op_backend_cuda_table;
#else
const avsl_device_api *const avsl_cuda_api = NULL;
const op_backend *const op_backend_cuda = NULL;
#endif
