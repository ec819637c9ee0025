/* devmem.c: see devmem.h. */
#include "devmem.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int devmem_is_device(const op_ctx *ctx) { return ctx->device != OP_DEVICE_CPU; }

static const char *hint = "the batch size";

void devmem_set_hint(const char *what_to_lower) { hint = what_to_lower; }

void devmem_die_no_room(op_ctx *ctx, const char *what, size_t bytes)
{
	char avail[96] = "";
	size_t fr = 0, tot = 0;
	if (op_mem_info(ctx, &fr, &tot) == 0 && tot > 0)
		snprintf(avail, sizeof avail, " (%.3g of %.3g MB free)", fr / 1e6, tot / 1e6);
	die("%s:%d: out of device memory: %s (%.3g MB) does not fit%s; lower %s", op_backend_name(ctx), ctx->index, what,
	    bytes / 1e6, avail, hint);
}

void *devmem_alloc(op_ctx *ctx, size_t count, size_t size)
{
	if (!devmem_is_device(ctx))
		return xmalloc_array(count ? count : 1, size);
	size_t bytes;
	if (size_mul(count ? count : 1, size, &bytes))
		die("device buffer of %zu x %zu bytes is too large", count, size);
	void *p = NULL;
	if (op_alloc(ctx, &p, bytes))
		devmem_die_no_room(ctx, "a buffer", bytes);
	return p;
}

void devmem_free(op_ctx *ctx, void *p)
{
	if (!devmem_is_device(ctx))
		free(p);
	else
		op_free(ctx, p);
}

void devmem_upload(op_ctx *ctx, void *dst, const void *src, size_t bytes)
{
	if (!devmem_is_device(ctx)) {
		if (dst != src)
			memcpy(dst, src, bytes);
		return;
	}
	OP_DO(ctx, op_upload(ctx, dst, src, bytes));
}

void devmem_download(op_ctx *ctx, void *dst, const void *src, size_t bytes)
{
	if (!devmem_is_device(ctx)) {
		if (dst != src)
			memcpy(dst, src, bytes);
		return;
	}
	OP_DO(ctx, op_download(ctx, dst, src, bytes));
}

void devmem_copy(op_ctx *ctx, float *dst, const float *src, size_t n)
{
	if (!devmem_is_device(ctx)) {
		memcpy(dst, src, n * sizeof(float));
		return;
	}
	if (n > INT32_MAX)
		die("internal error: device copy of %zu floats", n);
	OP_DO(ctx, op_layout_convert(ctx, 1, 1, (int)n, src, OP_NCHW, dst, OP_NCHW, 0));
}

static void *arena_alloc(void *dev, size_t bytes)
{
	op_ctx *ctx = dev;
	void *p = NULL;
	if (op_alloc(ctx, &p, bytes) || op_memset(ctx, p, 0, bytes)) {
		if (p)
			op_free(ctx, p);
		devmem_die_no_room(ctx, "the activation arena", bytes);
	}
	return p;
}

static void arena_release(void *dev, void *p) { op_free(dev, p); }

void devmem_arena(arena *a, op_ctx *ctx)
{
	if (!devmem_is_device(ctx))
		return;
	a->alloc = arena_alloc;
	a->release = arena_release;
	a->dev = ctx;
}
