/* params.c: see params.h. */
#include "params.h"
#include "devmem.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void paramset_init(paramset *ps) { memset(ps, 0, sizeof *ps); }

int paramset_add(paramset *ps, const char *name, int ndim, const int64_t *shape, param_group group, int trainable)
{
	if (ps->finalized)
		die("internal error: parameter '%s' registered after finalize", name);
	if (ndim < 0 || ndim > PARAM_MAX_DIMS)
		die("internal error: parameter '%s' has %d dimensions", name, ndim);
	if (strlen(name) >= sizeof ps->info[0].name)
		die("internal error: parameter name too long: %s", name);
	if (paramset_find(ps, name) >= 0)
		die("internal error: duplicate parameter name %s", name);
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 64;
		ps->info = xrealloc_array(ps->info, (size_t)ps->cap, sizeof *ps->info);
	}
	param_info *p = &ps->info[ps->n];
	memset(p, 0, sizeof *p);
	strcpy(p->name, name);
	p->ndim = ndim;
	p->numel = 1;
	for (int d = 0; d < ndim; d++) {
		if (shape[d] <= 0)
			die("internal error: parameter '%s' has dimension %d of size %lld", name, d, (long long)shape[d]);
		p->shape[d] = shape[d];
		if (size_mul(p->numel, (size_t)shape[d], &p->numel))
			die("internal error: parameter '%s' is too large", name);
	}
	p->group = group;
	p->trainable = trainable;
	p->persistent = 1;
	return ps->n++;
}

void paramset_finalize(paramset *ps)
{
	size_t off = 0;
	for (int i = 0; i < ps->n; i++) {
		off = (off + 15) & ~(size_t)15;
		ps->info[i].offset = off;
		off += ps->info[i].numel;
	}
	ps->total = (off + 15) & ~(size_t)15;
	size_t bytes;
	if (size_mul(ps->total ? ps->total : 16, sizeof(float), &bytes))
		die("parameter buffer too large");
	ps->data = aligned_alloc(64, bytes);
	ps->grad = aligned_alloc(64, bytes);
	if (!ps->data || !ps->grad)
		die("out of memory allocating %zu bytes of parameters", 2 * bytes);
	memset(ps->data, 0, bytes);
	memset(ps->grad, 0, bytes);
	ps->finalized = 1;
}

void paramset_free(paramset *ps)
{
	if (ps->dev)
		op_free(ps->dev_ctx, ps->dev);
	if (ps->dev_grad)
		op_free(ps->dev_ctx, ps->dev_grad);
	free(ps->info);
	free(ps->data);
	free(ps->grad);
	memset(ps, 0, sizeof *ps);
}

float *paramset_data(const paramset *ps, int idx) { return ps->data + ps->info[idx].offset; }
float *paramset_grad(const paramset *ps, int idx) { return ps->grad + ps->info[idx].offset; }

void paramset_upload(paramset *ps, op_ctx *ctx)
{
	if (ctx->device == OP_DEVICE_CPU)
		return;
	size_t bytes = (ps->total ? ps->total : 16) * sizeof(float);
	if (!ps->dev) {
		ps->dev_ctx = ctx;
		if (op_alloc(ctx, (void **)&ps->dev, bytes))
			devmem_die_no_room(ctx, "the parameters", bytes);
	}
	OP_DO(ctx, op_upload(ctx, ps->dev, ps->data, bytes));
	OP_DO(ctx, op_ctx_sync(ctx)); /* data may change once this returns */
}

const float *paramset_op_data(const paramset *ps, int idx)
{
	return (ps->dev ? ps->dev : ps->data) + ps->info[idx].offset;
}

float *paramset_op_values(const paramset *ps) { return ps->dev ? ps->dev : ps->data; }
float *paramset_op_grads(const paramset *ps) { return ps->dev_grad ? ps->dev_grad : ps->grad; }
float *paramset_op_mut(const paramset *ps, int idx) { return paramset_op_values(ps) + ps->info[idx].offset; }
float *paramset_op_grad(const paramset *ps, int idx) { return paramset_op_grads(ps) + ps->info[idx].offset; }

void paramset_to_device(paramset *ps, op_ctx *ctx)
{
	if (ctx->device == OP_DEVICE_CPU)
		return;
	paramset_upload(ps, ctx);
	size_t bytes = (ps->total ? ps->total : 16) * sizeof(float);
	if (!ps->dev_grad && op_alloc(ctx, (void **)&ps->dev_grad, bytes))
		devmem_die_no_room(ctx, "the gradients", bytes);
	OP_DO(ctx, op_memset(ctx, ps->dev_grad, 0, bytes));
}

void paramset_download(paramset *ps)
{
	if (!ps->dev || !ps->dev_grad)
		return;
	OP_DO(ps->dev_ctx, op_download(ps->dev_ctx, ps->data, ps->dev, ps->total * sizeof(float)));
}

tensor paramset_tensor(const paramset *ps, int idx, int want_grad)
{
	const param_info *p = &ps->info[idx];
	return tensor_f32(want_grad ? paramset_grad(ps, idx) : paramset_data(ps, idx), p->ndim, p->shape);
}

int paramset_find(const paramset *ps, const char *name)
{
	for (int i = 0; i < ps->n; i++)
		if (strcmp(ps->info[i].name, name) == 0)
			return i;
	return -1;
}

void paramset_zero_grad(paramset *ps)
{
	if (ps->dev_grad)
		OP_DO(ps->dev_ctx, op_memset(ps->dev_ctx, ps->dev_grad, 0, ps->total * sizeof(float)));
	else if (ps->grad)
		memset(ps->grad, 0, ps->total * sizeof(float));
}

size_t paramset_trainable_count(const paramset *ps)
{
	size_t n = 0;
	for (int i = 0; i < ps->n; i++)
		if (ps->info[i].trainable)
			n += ps->info[i].numel;
	return n;
}
