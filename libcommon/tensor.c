/* tensor.c: see tensor.h. */
#include "tensor.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

tensor tensor_f32(float *data, int ndim, const int64_t *shape)
{
	tensor t;
	memset(&t, 0, sizeof t);
	if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
		die("internal error: tensor with %d dimensions", ndim);
	t.data = data;
	t.dtype = TENSOR_F32;
	t.place = TENSOR_HOST;
	t.ndim = ndim;
	for (int d = 0; d < ndim; d++) {
		if (shape[d] < 1)
			die("internal error: tensor dimension %d has size %lld", d, (long long)shape[d]);
		t.shape[d] = shape[d];
	}
	return t;
}

size_t tensor_dtype_size(tensor_dtype d)
{
	switch (d) {
	case TENSOR_F32: return 4;
	case TENSOR_I32: return 4;
	case TENSOR_I64: return 8;
	case TENSOR_U8: return 1;
	}
	return 0;
}

size_t tensor_numel(const tensor *t)
{
	size_t n = 1;
	for (int d = 0; d < t->ndim; d++)
		if (size_mul(n, (size_t)t->shape[d], &n))
			return SIZE_MAX;
	return n;
}

size_t tensor_bytes(const tensor *t)
{
	size_t n = tensor_numel(t), b;
	if (n == SIZE_MAX || size_mul(n, tensor_dtype_size(t->dtype), &b))
		return SIZE_MAX;
	return b;
}

int tensor_same_shape(const tensor *a, const tensor *b)
{
	if (a->dtype != b->dtype || a->ndim != b->ndim)
		return 0;
	for (int d = 0; d < a->ndim; d++)
		if (a->shape[d] != b->shape[d])
			return 0;
	return 1;
}

char *tensor_shape_str(const tensor *t, char *buf, size_t len)
{
	size_t used = 0;
	if (!len)
		return buf;
	buf[0] = 0;
	used += (size_t)snprintf(buf, len, "(");
	for (int d = 0; d < t->ndim && used < len; d++)
		used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
	if (used < len)
		snprintf(buf + used, len - used, ")");
	return buf;
}
