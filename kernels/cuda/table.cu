// table.cu: the CUDA backend's table (op_backend.h): the ops of op_list.h whose cuda flag is 1; NULL for the rest.
#include "op_backend.h"

#define OP_CUDA_IMPL_1(name) cuda_##name
#define OP_CUDA_IMPL_0(name) NULL

extern "C" const op_backend op_backend_cuda_table = {
	"cuda",
	OP_NCHW, // cuDNN's NCHW path: the CUDA twins refuse the CPU's blocked layout
	cuda_ctx_init,
	cuda_ctx_free,
	cuda_ctx_sync,
	cuda_ctx_bind,
	cuda_mem_alloc,
	cuda_mem_free,
	cuda_mem_upload,
	cuda_mem_download,
	cuda_mem_memset,
	cuda_mem_info,
#define X(name, cuda, params, args) OP_CUDA_IMPL_##cuda(name),
	OP_LIST(X)
#undef X
};
