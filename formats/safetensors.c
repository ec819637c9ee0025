/* safetensors.c: validating reader and writer for safetensors checkpoints (rules: formats/checkpoint.md). */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"

#define ST_MAX_HEADER (100u * 1000u * 1000u) /* the reference implementation's limit */
/* JSON values in a header: about 8 per tensor, so 2^21 allows 250,000 tensors and bounds the parser's memory to
 * about 200 MB whatever a hostile header holds. */
#define ST_MAX_JSON_VALUES ((size_t)1 << 21)

static const char *const dtype_names[ST_DTYPE_COUNT] = {"F32", "F16", "BF16", "F64", "I64",
							 "I32", "I16", "I8",   "U8",  "BOOL"};
static const unsigned char dtype_sizes[ST_DTYPE_COUNT] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};

const char *st_dtype_name(st_dtype d)
{
	return (unsigned)d < ST_DTYPE_COUNT ? dtype_names[d] : "?";
}

size_t st_dtype_size(st_dtype d)
{
	return (unsigned)d < ST_DTYPE_COUNT ? dtype_sizes[d] : 0;
}

static int host_is_le(void)
{
	const uint16_t one = 1;
	return *(const unsigned char *)&one == 1;
}

static uint64_t rd_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Shape as "[64, 64, 3, 3]" into buf. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
	size_t n = 0;
	buf[0] = 0;
	n += snprintf(buf + n, cap - n, "[");
	for (int i = 0; i < ndim && n < cap; i++)
		n += snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (n < cap)
		snprintf(buf + n, cap - n, "]");
	return buf;
}

/* ---- reader --------------------------------------------------------------------------------------------------- */

static void free_contents(st_file *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->t[i].name);
	free(f->t);
	for (int i = 0; i < f->n_meta; i++) {
		free(f->meta_key[i]);
		free(f->meta_val[i]);
	}
	free(f->meta_key);
	free(f->meta_val);
	if (f->map) {
		if (f->mapped)
			munmap(f->map, f->map_len);
		else
			free(f->map);
	}
	free(f->path);
	memset(f, 0, sizeof *f);
}

void st_close(st_file *f)
{
	if (f)
		free_contents(f);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_offset(const void *a, const void *b)
{
	const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_dtype(const json_value *v, st_dtype *out)
{
	if (v->type != JSON_STRING)
		return -1;
	for (int d = 0; d < ST_DTYPE_COUNT; d++)
		if (strcmp(v->str, dtype_names[d]) == 0 && strlen(v->str) == v->str_len) {
			*out = (st_dtype)d;
			return 0;
		}
	return -1;
}

/* One tensor entry {"dtype":..,"shape":[..],"data_offsets":[b,e]}. */
static int parse_tensor(const char *fn, const json_value *e, st_tensor *t, uint64_t data_len, fmt_error *err)
{
	const char *nm = t->name;
	const json_value *dt = NULL, *sh = NULL, *of = NULL;
	if (e->type != JSON_OBJECT)
		return fmt_fail(err, "%s: tensor '%s': entry is not a JSON object", fn, nm);
	for (size_t i = 0; i < e->n; i++) {
		const json_value *m = &e->items[i];
		const json_value **slot = strcmp(m->key, "dtype") == 0	      ? &dt
					  : strcmp(m->key, "shape") == 0      ? &sh
					  : strcmp(m->key, "data_offsets") == 0 ? &of
									      : NULL;
		if (!slot || strlen(m->key) != m->key_len)
			return fmt_fail(err, "%s: tensor '%s': unknown field '%.64s', expected dtype, shape, data_offsets",
					fn, nm, m->key);
		if (*slot)
			return fmt_fail(err, "%s: tensor '%s': field '%s' given twice", fn, nm, m->key);
		*slot = m;
	}
	if (!dt || !sh || !of)
		return fmt_fail(err, "%s: tensor '%s': missing field '%s'", fn, nm,
				!dt ? "dtype" : !sh ? "shape" : "data_offsets");
	if (parse_dtype(dt, &t->dtype) < 0)
		return fmt_fail(err,
				"%s: tensor '%s': dtype %s%.32s%s not supported, expected one of F32, F16, BF16, F64, "
				"I64, I32, I16, I8, U8, BOOL",
				fn, nm, dt->type == JSON_STRING ? "'" : "", dt->type == JSON_STRING ? dt->str : "(not a string)",
				dt->type == JSON_STRING ? "'" : "");
	if (sh->type != JSON_ARRAY)
		return fmt_fail(err, "%s: tensor '%s': shape is not an array", fn, nm);
	if (sh->n > ST_MAX_DIMS)
		return fmt_fail(err, "%s: tensor '%s': shape has %zu dimensions, at most %d allowed", fn, nm, sh->n,
				ST_MAX_DIMS);
	t->ndim = (int)sh->n;
	uint64_t numel = 1;
	int overflow = 0;
	for (size_t i = 0; i < sh->n; i++) {
		const json_value *d = &sh->items[i];
		if (d->type != JSON_NUMBER || !d->is_uint || d->u > (uint64_t)INT64_MAX)
			return fmt_fail(err, "%s: tensor '%s': shape[%zu] is not a non-negative integer below 2^63", fn,
					nm, i);
		t->shape[i] = (int64_t)d->u;
		if (d->u && numel > UINT64_MAX / d->u)
			overflow = 1;
		numel *= d->u;
	}
	/* A zero dimension makes the product 0 whatever the others are; otherwise an overflow is fatal. */
	for (size_t i = 0; i < sh->n; i++)
		if (t->shape[i] == 0)
			overflow = 0, numel = 0;
	if (overflow || numel > UINT64_MAX / dtype_sizes[t->dtype])
		return fmt_fail(err, "%s: tensor '%s': shape %s has more bytes than 2^64", fn, nm,
				shape_str((char[160]){0}, 160, t->ndim, t->shape));
	t->numel = numel;
	if (of->type != JSON_ARRAY || of->n != 2)
		return fmt_fail(err, "%s: tensor '%s': data_offsets is not an array [begin, end]", fn, nm);
	for (int i = 0; i < 2; i++)
		if (of->items[i].type != JSON_NUMBER || !of->items[i].is_uint)
			return fmt_fail(err, "%s: tensor '%s': data_offsets[%d] is not a non-negative 64-bit integer", fn, nm,
					i);
	t->begin = of->items[0].u;
	t->end = of->items[1].u;
	if (t->begin > t->end)
		return fmt_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] has begin > end", fn, nm,
				(unsigned long long)t->begin, (unsigned long long)t->end);
	if (t->end > data_len)
		return fmt_fail(err, "%s: tensor '%s': data_offsets end %llu is past the data section (%llu bytes)", fn,
				nm, (unsigned long long)t->end, (unsigned long long)data_len);
	uint64_t want = numel * dtype_sizes[t->dtype];
	if (t->end - t->begin != want)
		return fmt_fail(err, "%s: tensor '%s': data_offsets span %llu bytes, expected %llu (%s %s)", fn, nm,
				(unsigned long long)(t->end - t->begin), (unsigned long long)want, dtype_names[t->dtype],
				shape_str((char[160]){0}, 160, t->ndim, t->shape));
	return 0;
}

static int parse_metadata(const char *fn, const json_value *m, st_file *f, fmt_error *err)
{
	if (m->type != JSON_OBJECT)
		return fmt_fail(err, "%s: __metadata__: not a JSON object", fn);
	if (m->n == 0)
		return 0;
	f->meta_key = calloc(m->n, sizeof *f->meta_key);
	f->meta_val = calloc(m->n, sizeof *f->meta_val);
	if (!f->meta_key || !f->meta_val)
		return fmt_fail(err, "%s: __metadata__: out of memory", fn);
	for (size_t i = 0; i < m->n; i++) {
		const json_value *e = &m->items[i];
		if (strlen(e->key) != e->key_len)
			return fmt_fail(err, "%s: __metadata__: a key contains a NUL character", fn);
		if (e->type != JSON_STRING)
			return fmt_fail(err, "%s: __metadata__: key '%.64s': value is not a string", fn, e->key);
		if (strlen(e->str) != e->str_len)
			return fmt_fail(err, "%s: __metadata__: key '%.64s': value contains a NUL character", fn, e->key);
		f->meta_key[i] = strdup(e->key);
		f->meta_val[i] = strdup(e->str);
		f->n_meta = (int)i + 1;
		if (!f->meta_key[i] || !f->meta_val[i])
			return fmt_fail(err, "%s: __metadata__: out of memory", fn);
	}
	/* duplicates: sort a copy of the key pointers (a quadratic scan would let a big header stall the reader) */
	char **keys = malloc(m->n * sizeof *keys);
	if (!keys)
		return fmt_fail(err, "%s: __metadata__: out of memory", fn);
	memcpy(keys, f->meta_key, m->n * sizeof *keys);
	qsort(keys, m->n, sizeof *keys, cmp_str_ptr);
	for (size_t i = 1; i < m->n; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			fmt_fail(err, "%s: __metadata__: key '%.64s' given twice", fn, keys[i]);
			free(keys);
			return -1;
		}
	free(keys);
	return 0;
}

/* Validate the mapping in f->map / f->map_len. */
static int parse_file(st_file *f, fmt_error *err)
{
	const char *fn = f->path;
	const unsigned char *b = f->map;
	if (f->map_len < 8)
		return fmt_fail(err, "%s: header length: file is %zu bytes, expected at least 8", fn, f->map_len);
	uint64_t n = rd_le(b, 8);
	if (n > ST_MAX_HEADER)
		return fmt_fail(err, "%s: header length: %llu bytes, at most %u allowed", fn, (unsigned long long)n,
				ST_MAX_HEADER);
	if (n > f->map_len - 8)
		return fmt_fail(err, "%s: header length: %llu bytes, but only %zu bytes follow (truncated file?)", fn,
				(unsigned long long)n, f->map_len - 8);
	if (n < 2 || b[8] != '{')
		return fmt_fail(err, "%s: header: does not start with '{', expected a JSON object", fn);
	long bad = json_utf8_invalid_at(b + 8, n);
	if (bad >= 0)
		return fmt_fail(err, "%s: header: invalid UTF-8 at header byte %ld", fn, bad);
	char why[200];
	json_value *root = json_parse_limited((const char *)b + 8, n, ST_MAX_JSON_VALUES, why, sizeof why);
	if (!root)
		return fmt_fail(err, "%s: header: bad JSON: %s", fn, why);
	int rc = -1;
	const st_tensor **byoff = NULL;
	f->data = b + 8 + n;
	f->data_len = f->map_len - 8 - n;
	if (root->type != JSON_OBJECT) {
		fmt_fail(err, "%s: header: not a JSON object", fn);
		goto out;
	}
	if (root->n > INT32_MAX / 2) {
		fmt_fail(err, "%s: header: too many entries", fn);
		goto out;
	}
	f->t = calloc(root->n ? root->n : 1, sizeof *f->t);
	if (!f->t) {
		fmt_fail(err, "%s: header: out of memory", fn);
		goto out;
	}
	int seen_meta = 0;
	for (size_t i = 0; i < root->n; i++) {
		const json_value *e = &root->items[i];
		if (strcmp(e->key, "__metadata__") == 0 && e->key_len == 12) {
			if (seen_meta++) {
				fmt_fail(err, "%s: __metadata__: given twice", fn);
				goto out;
			}
			if (parse_metadata(fn, e, f, err) < 0)
				goto out;
			continue;
		}
		if (e->key_len == 0 || strlen(e->key) != e->key_len) {
			fmt_fail(err, "%s: tensor name: empty or containing a NUL character", fn);
			goto out;
		}
		st_tensor *t = &f->t[f->n];
		t->name = strdup(e->key);
		if (!t->name) {
			fmt_fail(err, "%s: header: out of memory", fn);
			goto out;
		}
		f->n++;
		if (parse_tensor(fn, e, t, f->data_len, err) < 0)
			goto out;
	}
	qsort(f->t, f->n, sizeof *f->t, cmp_name);
	for (int i = 1; i < f->n; i++)
		if (strcmp(f->t[i - 1].name, f->t[i].name) == 0) {
			fmt_fail(err, "%s: tensor '%s': name given twice", fn, f->t[i].name);
			goto out;
		}
	/* The tensors, in offset order, must tile the data section exactly: no overlap, no gap, no trailing bytes
	 * (the reference implementation's rule, so any file we accept is accepted there too). */
	byoff = malloc((f->n ? f->n : 1) * sizeof *byoff);
	if (!byoff) {
		fmt_fail(err, "%s: header: out of memory", fn);
		goto out;
	}
	for (int i = 0; i < f->n; i++)
		byoff[i] = &f->t[i];
	qsort(byoff, f->n, sizeof *byoff, cmp_offset);
	uint64_t pos = 0;
	const char *prev = NULL;
	for (int i = 0; i < f->n; i++) {
		const st_tensor *t = byoff[i];
		if (t->begin < pos) {
			fmt_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' (ends at %llu)", fn,
				 t->name, (unsigned long long)t->begin, (unsigned long long)t->end, prev,
				 (unsigned long long)pos);
			goto out;
		}
		if (t->begin > pos) {
			fmt_fail(err, "%s: tensor '%s': data_offsets begin %llu leaves a gap after byte %llu, expected %llu",
				 fn, t->name, (unsigned long long)t->begin, (unsigned long long)pos, (unsigned long long)pos);
			goto out;
		}
		pos = t->end;
		prev = t->name;
	}
	if (pos != f->data_len) {
		fmt_fail(err, "%s: data section: %llu bytes, but the tensors cover %llu (trailing bytes)", fn,
			 (unsigned long long)f->data_len, (unsigned long long)pos);
		goto out;
	}
	rc = 0;
out:
	free(byoff);
	json_free(root);
	return rc;
}

int st_open_memory(st_file *f, const void *buf, size_t len, const char *name, fmt_error *err)
{
	memset(f, 0, sizeof *f);
	f->path = strdup(name ? name : "(memory)");
	f->map = malloc(len ? len : 1);
	if (!f->path || !f->map) {
		free_contents(f);
		return fmt_fail(err, "%s: out of memory", name ? name : "(memory)");
	}
	if (len)
		memcpy(f->map, buf, len);
	f->map_len = len;
	if (parse_file(f, err) < 0) {
		free_contents(f);
		return -1;
	}
	return 0;
}

int st_open(st_file *f, const char *path, fmt_error *err)
{
	memset(f, 0, sizeof *f);
	if (strcmp(path, "-") == 0)
		return fmt_fail(err, "-: checkpoints are read from files, not from standard input");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fmt_fail(err, "%s: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		return fmt_fail(err, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return fmt_fail(err, "%s: not a regular file", path);
	}
	if ((uint64_t)sb.st_size > SIZE_MAX) {
		close(fd);
		return fmt_fail(err, "%s: file too large for this machine", path);
	}
	f->path = strdup(path);
	if (!f->path) {
		close(fd);
		return fmt_fail(err, "%s: out of memory", path);
	}
	f->map_len = (size_t)sb.st_size;
	if (f->map_len) {
		void *m = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			f->map = m;
			f->mapped = 1;
		}
	}
	if (!f->map) { /* empty file, or a file system without mmap: read it */
		f->map = malloc(f->map_len ? f->map_len : 1);
		size_t got = 0;
		while (f->map && got < f->map_len) {
			ssize_t r = read(fd, (char *)f->map + got, f->map_len - got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		if (!f->map || got != f->map_len) {
			int e = errno;
			close(fd);
			free_contents(f);
			return fmt_fail(err, "%s: %s", path, !f->map ? "out of memory" : e ? strerror(e) : "short read");
		}
	}
	close(fd);
	if (parse_file(f, err) < 0) {
		free_contents(f);
		return -1;
	}
	return 0;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
	int lo = 0, hi = f->n - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, c = strcmp(f->t[mid].name, name);
		if (c == 0)
			return &f->t[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
	for (int i = 0; i < f->n_meta; i++)
		if (strcmp(f->meta_key[i], key) == 0)
			return f->meta_val[i];
	return NULL;
}

static int meta_get(const st_file *f, const char *key, const char **v, fmt_error *err)
{
	*v = st_meta(f, key);
	if (!*v)
		return fmt_fail(err, "%s: __metadata__: key '%s' missing", f->path, key);
	return 0;
}

int st_meta_int(const st_file *f, const char *key, int64_t min, int64_t max, int64_t *out, fmt_error *err)
{
	const char *v;
	if (meta_get(f, key, &v, err) < 0)
		return -1;
	int neg = *v == '-';
	const char *p = v + neg;
	uint64_t u = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (!*p)
		return fmt_fail(err, "%s: __metadata__: key '%s': '%.40s' is not a decimal integer", f->path, key, v);
	for (; *p; p++) {
		unsigned d = (unsigned char)*p - '0';
		if (d > 9)
			return fmt_fail(err, "%s: __metadata__: key '%s': '%.40s' is not a decimal integer", f->path, key, v);
		if (u > (limit - d) / 10)
			return fmt_fail(err, "%s: __metadata__: key '%s': '%.40s' out of range [%lld, %lld]", f->path, key,
					v, (long long)min, (long long)max);
		u = u * 10 + d;
	}
	int64_t x = !neg ? (int64_t)u : u == limit ? INT64_MIN : -(int64_t)u;
	if (x < min || x > max)
		return fmt_fail(err, "%s: __metadata__: key '%s': '%.40s' out of range [%lld, %lld]", f->path, key, v,
				(long long)min, (long long)max);
	*out = x;
	return 0;
}

int st_meta_double(const st_file *f, const char *key, double min, double max, double *out, fmt_error *err)
{
	const char *v;
	if (meta_get(f, key, &v, err) < 0)
		return -1;
	/* plain decimal only: strtod alone would also take " 1", "inf", "nan" and hexadecimal */
	int ok = *v != 0;
	for (const char *p = v; ok && *p; p++)
		ok = (*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E';
	char *end = NULL;
	double x = ok ? strtod(v, &end) : 0;
	if (!ok || *end || !isfinite(x))
		return fmt_fail(err, "%s: __metadata__: key '%s': '%.40s' is not a decimal number", f->path, key, v);
	if (x < min || x > max)
		return fmt_fail(err, "%s: __metadata__: key '%s': '%.40s' out of range [%g, %g]", f->path, key, v, min, max);
	*out = x;
	return 0;
}

int st_check_avsl_version(const st_file *f, fmt_error *err)
{
	const char *v = st_meta(f, "avsl.format_version");
	if (!v)
		return fmt_fail(err, "%s: __metadata__: key 'avsl.format_version' missing: not an avsl checkpoint", f->path);
	/* MAJOR.MINOR, each 1 to 3 decimal digits, nothing else */
	unsigned major = 0, minor = 0;
	const char *p = v;
	int nd = 0, ok = 1;
	for (; *p >= '0' && *p <= '9' && nd < 4; p++, nd++)
		major = major * 10 + (unsigned)(*p - '0');
	ok = nd >= 1 && nd <= 3 && *p == '.';
	nd = 0;
	if (ok)
		for (p++; *p >= '0' && *p <= '9' && nd < 4; p++, nd++)
			minor = minor * 10 + (unsigned)(*p - '0');
	if (!ok || nd < 1 || nd > 3 || *p)
		return fmt_fail(err, "%s: __metadata__: key 'avsl.format_version': '%.40s', expected MAJOR.MINOR", f->path, v);
	if (major != 1)
		return fmt_fail(err, "%s: __metadata__: avsl.format_version %u.%u, this reader knows major version 1", f->path,
				major, minor);
	return 0;
}

/* IEEE binary16 -> binary32, exact (every half is a float). */
static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, e = h >> 10 & 0x1f, m = h & 0x3ff, bits;
	if (e == 0x1f) {
		bits = sign | 0x7f800000u | m << 13;
	} else if (e) {
		bits = sign | (e + 112) << 23 | m << 13;
	} else if (m) { /* subnormal: normalise */
		int shift = 0;
		while (!(m & 0x400)) {
			m <<= 1;
			shift++;
		}
		bits = sign | (uint32_t)(113 - shift) << 23 | (m & 0x3ff) << 13;
	} else {
		bits = sign;
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

int st_read_f32(const st_file *f, const st_tensor *t, float *out, uint64_t n, fmt_error *err)
{
	if (n != t->numel)
		return fmt_fail(err, "%s: tensor '%s': has %llu elements, caller expected %llu", f->path, t->name,
				(unsigned long long)t->numel, (unsigned long long)n);
	const unsigned char *p = f->data + t->begin;
	switch (t->dtype) {
	case ST_F32:
		if (host_is_le()) {
			if (n)
				memcpy(out, p, n * 4);
		} else {
			for (uint64_t i = 0; i < n; i++) {
				uint32_t b = (uint32_t)rd_le(p + 4 * i, 4);
				memcpy(&out[i], &b, 4);
			}
		}
		break;
	case ST_F16:
		for (uint64_t i = 0; i < n; i++)
			out[i] = half_to_float((uint16_t)rd_le(p + 2 * i, 2));
		break;
	case ST_BF16:
		for (uint64_t i = 0; i < n; i++) {
			uint32_t b = (uint32_t)rd_le(p + 2 * i, 2) << 16;
			memcpy(&out[i], &b, 4);
		}
		break;
	case ST_F64:
		for (uint64_t i = 0; i < n; i++) {
			uint64_t b = rd_le(p + 8 * i, 8);
			double d;
			memcpy(&d, &b, 8);
			out[i] = (float)d;
		}
		break;
	case ST_I64:
		for (uint64_t i = 0; i < n; i++)
			out[i] = (float)(int64_t)rd_le(p + 8 * i, 8);
		break;
	case ST_I32:
		for (uint64_t i = 0; i < n; i++)
			out[i] = (float)(int32_t)(uint32_t)rd_le(p + 4 * i, 4);
		break;
	case ST_I16:
		for (uint64_t i = 0; i < n; i++)
			out[i] = (float)(int16_t)(uint16_t)rd_le(p + 2 * i, 2);
		break;
	case ST_I8:
		for (uint64_t i = 0; i < n; i++)
			out[i] = (float)(int8_t)p[i];
		break;
	case ST_U8:
		for (uint64_t i = 0; i < n; i++)
			out[i] = (float)p[i];
		break;
	case ST_BOOL:
		for (uint64_t i = 0; i < n; i++)
			out[i] = p[i] ? 1.0f : 0.0f;
		break;
	default:
		return fmt_fail(err, "%s: tensor '%s': bad dtype", f->path, t->name);
	}
	return 0;
}

int st_load_f32(const st_file *f, const char *name, int ndim, const int64_t *shape, float *out, fmt_error *err)
{
	const st_tensor *t = st_find(f, name);
	char a[160], b[160];
	if (!t)
		return fmt_fail(err, "%s: missing tensor '%s'", f->path, name);
	int same = t->ndim == ndim;
	for (int i = 0; same && i < ndim; i++)
		same = t->shape[i] == shape[i];
	if (!same)
		return fmt_fail(err, "%s: tensor '%s': shape %s expected %s", f->path, name,
				shape_str(a, sizeof a, t->ndim, t->shape), shape_str(b, sizeof b, ndim, shape));
	return st_read_f32(f, t, out, t->numel, err);
}
