/* npy.c: .npy v1.0 writer producing np.save's exact bytes (see npy.h). */
#include "npy.h"

#include <errno.h>
#include <string.h>

#include "fmt_io.h"

enum { NPY_ALIGN = 64, NPY_GROWTH_DIGITS = 21 };

static const char *const descr[] = {"<f4", "<i4", "<i8"};
static const size_t elem_size[] = {4, 4, 8};

/* The header dict exactly as numpy writes it: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
 * then spaces so that shape[0] may grow to 21 digits in place, then padding and '\n' to a multiple of 64 bytes in
 * all (10 bytes of magic, version and length included). Returns the dict length without the padding, or 0. */
static size_t build_dict(char *buf, size_t cap, npy_dtype dt, int ndim, const int64_t *shape)
{
	size_t n = (size_t)snprintf(buf, cap, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr[dt]);
	for (int i = 0; i < ndim && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (ndim == 1 && n < cap)
		n += (size_t)snprintf(buf + n, cap - n, ",");
	if (n < cap)
		n += (size_t)snprintf(buf + n, cap - n, "), }");
	if (ndim > 0 && n < cap) {
		int digits = snprintf(NULL, 0, "%lld", (long long)shape[0]);
		for (int i = digits; i < NPY_GROWTH_DIGITS && n + 1 < cap; i++)
			buf[n++] = ' ';
		buf[n] = 0;
	}
	return n < cap ? n : 0;
}

static int valid(npy_dtype dt, int ndim, const int64_t *shape)
{
	if ((unsigned)dt > NPY_I64 || ndim < 0 || ndim > NPY_MAX_DIMS)
		return 0;
	for (int i = 0; i < ndim; i++)
		if (shape[i] < 0)
			return 0;
	return 1;
}

size_t npy_header_size(int ndim, const int64_t *shape)
{
	char dict[256];
	if (!valid(NPY_F32, ndim, shape))
		return 0;
	size_t n = build_dict(dict, sizeof dict, NPY_F32, ndim, shape);
	size_t hlen = n + 1, pad = NPY_ALIGN - (10 + hlen) % NPY_ALIGN; /* numpy pads 64 when already aligned */
	return n ? 10 + hlen + pad : 0;
}

int npy_write_header(FILE *fp, const char *name, npy_dtype dt, int ndim, const int64_t *shape, fmt_error *err)
{
	char dict[256 + NPY_ALIGN + 2];
	if (!valid(dt, ndim, shape))
		return fmt_fail(err, "%s: npy header: bad dtype or shape (0..%d dimensions, each >= 0)", name,
				NPY_MAX_DIMS);
	size_t n = build_dict(dict, 256, dt, ndim, shape);
	size_t hlen = n + 1, pad = NPY_ALIGN - (10 + hlen) % NPY_ALIGN;
	memset(dict + n, ' ', pad);
	dict[n + pad] = '\n';
	unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
	fmt_put16(pre + 8, (uint16_t)(hlen + pad));
	if (fwrite(pre, 1, 10, fp) != 10 || fwrite(dict, 1, hlen + pad, fp) != hlen + pad)
		return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	return 0;
}

int npy_write_data(FILE *fp, const char *name, npy_dtype dt, const void *data, uint64_t n, fmt_error *err)
{
	if ((unsigned)dt > NPY_I64)
		return fmt_fail(err, "%s: npy data: bad dtype", name);
	size_t es = elem_size[dt];
	const unsigned char *p = data;
	if (fmt_host_le()) {
		if (n && fwrite(p, es, n, fp) != n)
			return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
		return 0;
	}
	unsigned char b[8];
	for (uint64_t i = 0; i < n; i++) {
		for (size_t j = 0; j < es; j++)
			b[j] = p[i * es + es - 1 - j];
		if (fwrite(b, 1, es, fp) != es)
			return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	}
	return 0;
}

int npy_write(FILE *fp, const char *name, npy_dtype dt, int ndim, const int64_t *shape, const void *data,
	      fmt_error *err)
{
	if (npy_write_header(fp, name, dt, ndim, shape, err) < 0)
		return -1;
	uint64_t n = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] && n > UINT64_MAX / elem_size[dt] / (uint64_t)shape[i])
			return fmt_fail(err, "%s: npy data: shape too large", name);
		n *= (uint64_t)shape[i];
	}
	return npy_write_data(fp, name, dt, data, n, err);
}
