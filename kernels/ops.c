/* ops.c: the op_* functions of ops.h, each a lookup in the table of the context's backend (op_backend.h). */
#include <stdio.h>
#include <string.h>

#include "op_backend.h"

static const char *const op_names[OPID_COUNT] = {
#define X(name, cuda, params, args) #name,
	OP_LIST(X)
#undef X
};

const char *op_name(op_id op) { return op >= 0 && op < OPID_COUNT ? op_names[op] : "?"; }

static const op_backend *table_of(int device)
{
	return device == OP_DEVICE_CPU ? &op_backend_cpu : device == OP_DEVICE_CUDA ? op_backend_cuda : NULL;
}

int op_ctx_init_on(op_ctx *ctx, int device, int index, int threads, int flags)
{
	const op_backend *b = table_of(device);
	memset(ctx, 0, sizeof *ctx);
	if (!b) {
		snprintf(ctx->err, sizeof ctx->err, device == OP_DEVICE_CUDA ?
			 "avsl was built without CUDA (CUDA=0, or nvcc, cuDNN or cuBLAS not found at build time)" :
			 "unknown device %d", device);
		return -1;
	}
	if (index < 0 || (device == OP_DEVICE_CPU && index != 0)) {
		snprintf(ctx->err, sizeof ctx->err, "%s: no device %d", b->name, index);
		return -1;
	}
	/* inputs of ctx_init, which fills device, threads and backend (and clears the rest) */
	ctx->index = index;
	ctx->tf32 = device == OP_DEVICE_CUDA && (flags & OP_CTX_TF32);
	int rc = b->ctx_init(ctx, threads);
	ctx->table = b;
	return rc;
}

int op_ctx_init(op_ctx *ctx, int device, int threads) { return op_ctx_init_on(ctx, device, 0, threads, 0); }

void op_ctx_free(op_ctx *ctx)
{
	if (ctx->table)
		ctx->table->ctx_free(ctx);
	ctx->table = NULL;
}

void op_ctx_set_threads(op_ctx *ctx, int threads) { ctx->threads = threads > 0 ? threads : 1; }

int op_ctx_sync(op_ctx *ctx) { return ctx->table->ctx_sync(ctx); }

int op_ctx_bind(op_ctx *ctx) { return ctx->table->ctx_bind(ctx); }

const char *op_backend_name(const op_ctx *ctx) { return ctx->table ? ctx->table->name : "none"; }

int op_preferred_layout(const op_ctx *ctx) { return ctx->table->act_fmt; }

int op_alloc(op_ctx *ctx, void **p, size_t bytes) { return ctx->table->mem_alloc(ctx, p, bytes); }
void op_free(op_ctx *ctx, void *p) { ctx->table->mem_free(ctx, p); }
int op_upload(op_ctx *ctx, void *dst, const void *src, size_t bytes)
{
	return ctx->table->mem_upload(ctx, dst, src, bytes);
}
int op_download(op_ctx *ctx, void *dst, const void *src, size_t bytes)
{
	return ctx->table->mem_download(ctx, dst, src, bytes);
}
int op_memset(op_ctx *ctx, void *p, int byte, size_t bytes) { return ctx->table->mem_memset(ctx, p, byte, bytes); }
int op_mem_info(op_ctx *ctx, size_t *free_bytes, size_t *total_bytes)
{
	return ctx->table->mem_info(ctx, free_bytes, total_bytes);
}

/* The function pointer of op in ctx's table, for op_supports. */
static int has_op(const op_backend *b, op_id op)
{
	switch (op) {
#define X(name, cuda, params, args)                                                                                  \
	case OPID_##name:                                                                                            \
		return b->name != NULL;
		OP_LIST(X)
#undef X
	default:
		return 0;
	}
}

static int refuse(op_ctx *ctx, op_id op)
{
	snprintf(ctx->err, sizeof ctx->err, "the %s backend has no implementation of op %s", op_backend_name(ctx),
		 op_name(op));
	return -1;
}

int op_supports(op_ctx *ctx, op_id op)
{
	if (ctx->table && has_op(ctx->table, op))
		return 1;
	refuse(ctx, op);
	return 0;
}

/* op_NAME: the backend's NAME, or the refusal of op_supports (never another backend). */
#define X(name, cuda, params, args)                                                                                  \
	int op_##name params                                                                                         \
	{                                                                                                            \
		if (!ctx->table->name)                                                                               \
			return refuse(ctx, OPID_##name);                                                             \
		return ctx->table->name args;                                                                        \
	}
OP_LIST(X)
#undef X
