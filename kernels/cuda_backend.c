/* cuda_backend.c: the one place that knows whether CUDA was compiled in. The CUDA table itself is defined in
 * kernels/cuda/table.cu; without CUDA the pointer is NULL and op_ctx_init reports "built without CUDA". */
#include "op_backend.h"

#ifdef AVSL_HAVE_CUDA
extern const op_backend op_backend_cuda_table; /* kernels/cuda/table.cu */
const op_backend *const op_backend_cuda = &op_backend_cuda_table;
#else
const op_backend *const op_backend_cuda = NULL;
#endif
