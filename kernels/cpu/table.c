/* table.c: the CPU backend's table (op_backend.h): every op of op_list.h, by name. */
#include "op_backend.h"

const op_backend op_backend_cpu = {
	.name = "cpu",
	.act_fmt = OP_NCHW8C, /* oneDNN's blocked layout: no reorder inside the trunk */
	.ctx_init = cpu_ctx_init,
	.ctx_free = cpu_ctx_free,
	.ctx_sync = cpu_ctx_sync,
	.ctx_bind = cpu_ctx_bind,
	.mem_alloc = cpu_mem_alloc,
	.mem_free = cpu_mem_free,
	.mem_upload = cpu_mem_upload,
	.mem_download = cpu_mem_download,
	.mem_memset = cpu_mem_memset,
	.mem_info = cpu_mem_info,
#define X(name, cuda, params, args) .name = cpu_##name,
	OP_LIST(X)
#undef X
};
