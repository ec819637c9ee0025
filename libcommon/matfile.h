/* matfile.h: a reader for MATLAB Level 5 MAT-files (the format of "MAT-File Format", MathWorks, the version-5
 * and version-7 files save writes; not the HDF5-based version 7.3). Enough of it to read the Cars196 annotation
 * files (cars_annos.mat, devkit/cars_*_annos.mat): numeric, logical and character arrays, cell arrays and structure
 * arrays, each variable either a plain miMATRIX element or an miCOMPRESSED (zlib) element holding one, in either
 * byte order. Sparse arrays and objects are refused.
 *
 * Layout read (all of it checked): a 128-byte header (116 bytes of text, 8 of subsystem offset, version 0x0100, the
 * endian indicator "MI" as a 16-bit value), then data elements. A data element is an 8-byte tag (type, byte count)
 * and its data padded to 8 bytes, or a "small" element (count < 5) packed into the tag as (count << 16 | type) plus 4
 * data bytes. An miMATRIX holds sub-elements: array flags (class in the low byte), dimensions, name, then per class:
 * real (and imaginary) parts; characters; one miMATRIX per cell (column-major); a field-name length, the field
 * names and one miMATRIX per element and field.
 *
 * Errors: -1 with a one-line message "FILE: what (at byte N)". Never exits.
 */
#ifndef AVSL_MATFILE_H
#define AVSL_MATFILE_H

#include <stddef.h>
#include <stdint.h>

enum { MAT_MAX_DIMS = 8, MAT_NAME_LEN = 64 };

/* MATLAB array classes (mxCLASS of the array flags). */
enum {
	MX_CELL = 1, MX_STRUCT = 2, MX_OBJECT = 3, MX_CHAR = 4, MX_SPARSE = 5, MX_DOUBLE = 6, MX_SINGLE = 7,
	MX_INT8 = 8, MX_UINT8 = 9, MX_INT16 = 10, MX_UINT16 = 11, MX_INT32 = 12, MX_UINT32 = 13, MX_INT64 = 14,
	MX_UINT64 = 15
};

typedef struct mat_array {
	char name[MAT_NAME_LEN];      /* variable name ("" inside cells and structs) */
	int mx_class;                 /* MX_* */
	int logical;                  /* the logical flag of a numeric array */
	int ndims;
	int64_t dims[MAT_MAX_DIMS];
	size_t n;                     /* number of elements: product of dims */
	double *num;                  /* numeric: n real values, column-major, converted to double */
	char *str;                    /* char: the characters as UTF-8, row by row (a 1 x N string is the string) */
	int nfields;                  /* struct: number of fields */
	char (*fields)[MAT_NAME_LEN]; /* struct: field names */
	struct mat_array **sub;       /* cell: n entries; struct: n * nfields entries, element-major */
} mat_array;

typedef struct {
	mat_array **vars;
	size_t n;
} mat_file;

/* Read a whole MAT-file. Returns 0, or -1 with err "PATH: what". */
int mat_read(const char *path, mat_file *out, char *err, size_t errlen);
/* Parse a MAT-file image held in memory; `what` names it in messages. */
int mat_parse(const uint8_t *buf, size_t len, const char *what, mat_file *out, char *err, size_t errlen);
void mat_free(mat_file *f);

/* The variable called name, or NULL. */
const mat_array *mat_var(const mat_file *f, const char *name);
/* Field `field` of element `elem` of a struct array, or NULL (no such field, not a struct, elem out of range). */
const mat_array *mat_field(const mat_array *s, size_t elem, const char *field);

#endif
