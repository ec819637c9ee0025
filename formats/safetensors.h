/* safetensors.h: reader and writer for safetensors files (the checkpoint format; formats/checkpoint.md).
 *
 * Layout: u64 little-endian N, then N bytes of UTF-8 JSON {"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "string", ...}}, then the data section. Offsets are
 * relative to the start of the data section. The reader validates everything (formats/checkpoint.md lists the
 * rules) and never trusts a size before checking it against the file.
 */
#ifndef AVSL_SAFETENSORS_H
#define AVSL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fmt_error.h"

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_DTYPE_COUNT } st_dtype;

enum { ST_MAX_DIMS = 8 };

typedef struct {
	char *name;
	st_dtype dtype;
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	uint64_t numel;
	uint64_t begin, end; /* byte offsets into the data section */
} st_tensor;

typedef struct {
	char *path;
	int n;              /* tensors */
	st_tensor *t;       /* sorted by name */
	int n_meta;
	char **meta_key, **meta_val;
	const unsigned char *data; /* start of the data section (inside the mapping) */
	uint64_t data_len;
	void *map;          /* whole-file mapping (or heap copy) */
	size_t map_len;
	int mapped;
} st_file;

const char *st_dtype_name(st_dtype d);  /* "F32", ... */
size_t st_dtype_size(st_dtype d);

/* Open and validate; path "-" is not supported (checkpoints are files). Returns 0 or -1 with err. */
int st_open(st_file *f, const char *path, fmt_error *err);
/* Same, over a buffer in memory (copied); name is used in messages. For tests and fuzzing. */
int st_open_memory(st_file *f, const void *buf, size_t len, const char *name, fmt_error *err);
void st_close(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);
const char *st_meta(const st_file *f, const char *key); /* NULL if absent */

/* Typed metadata (avsl keys hold plain decimal strings, formats/checkpoint.md section 4). Each returns 0, or -1 with
 * err naming the file and key: "FILE: __metadata__: key 'avsl.levels': '9' out of range [1, 8]" or "missing". */
int st_meta_int(const st_file *f, const char *key, int64_t min, int64_t max, int64_t *out, fmt_error *err);
int st_meta_double(const st_file *f, const char *key, double min, double max, double *out, fmt_error *err);
/* Check avsl.format_version: present, "MAJOR.MINOR" with MAJOR 1 (any minor). Fails for a foreign file (no key). */
int st_check_avsl_version(const st_file *f, fmt_error *err);

/* Copy a tensor into out[n] as float32, converting F16/BF16/F64/integers. Fails (naming file and tensor) if
 * n != numel. */
int st_read_f32(const st_file *f, const st_tensor *t, float *out, uint64_t n, fmt_error *err);
/* Like st_read_f32 but looks the tensor up by name and checks its shape equals shape[ndim]; the error names the
 * missing or mis-shaped tensor and both shapes. */
int st_load_f32(const st_file *f, const char *name, int ndim, const int64_t *shape, float *out, fmt_error *err);

/* Writer: collect tensors (data referenced, not copied: keep it alive until st_writer_write) and metadata, then
 * write everything in one go. Tensors are written in the order added; the JSON header lists them sorted. */
typedef struct st_writer st_writer;
st_writer *st_writer_new(void);
void st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape, const void *data);
void st_writer_meta(st_writer *w, const char *key, const char *value);
int st_writer_write(st_writer *w, FILE *fp, const char *path_for_errors, fmt_error *err);
void st_writer_free(st_writer *w);

#endif
