/* npy.h: writer of numpy .npy files, format version 1.0 (numpy's lib/format.py documents it), for numpy and faiss
 * users (avsl-embed --npy DIR).
 *
 * The bytes equal np.save's for the same array (numpy >= 1.24: header padded so the data starts at a multiple of
 * 64, plus spare spaces so the header length does not depend on the digits of shape[0]). Because of that spare room
 * a streaming writer may write the header with a guessed shape[0], append rows with npy_write_data, then seek back
 * and rewrite the header with the final row count: the header keeps its length.
 */
#ifndef AVSL_NPY_H
#define AVSL_NPY_H

#include <stdint.h>
#include <stdio.h>

#include "fmt_error.h"

typedef enum { NPY_F32, NPY_I32, NPY_I64 } npy_dtype;
enum { NPY_MAX_DIMS = 4 };

/* Bytes of the header (magic to the final '\n') for this dtype and shape: a multiple of 64. 0 if ndim or a
 * dimension is out of range. */
size_t npy_header_size(int ndim, const int64_t *shape);
/* The header alone. ndim 0..4, each dimension >= 0. */
int npy_write_header(FILE *fp, const char *name, npy_dtype dt, int ndim, const int64_t *shape, fmt_error *err);
/* n elements of dt, written little-endian whatever the host. */
int npy_write_data(FILE *fp, const char *name, npy_dtype dt, const void *data, uint64_t n, fmt_error *err);
/* Header and data (product of shape elements, C order). */
int npy_write(FILE *fp, const char *name, npy_dtype dt, int ndim, const int64_t *shape, const void *data,
	      fmt_error *err);

/* ---- reading (formats/npy_read.c): embeddings, labels and neighbour indices computed elsewhere ------------- */

/* A whole array in memory. Accepted: format versions 1.0, 2.0 and 3.0; C order only; dtypes '<f4' and '<f8'
 * (read as float32: the data of every float array), '<i4', '<i8' (and '|i1', '|u1', '<i2', '<u2', '<u4' for
 * labels), read as int64. Big-endian arrays are byte-swapped. */
typedef struct {
	int ndim;
	int64_t shape[NPY_MAX_DIMS];
	uint64_t n;       /* product of shape (1 for a scalar) */
	int is_float;     /* the file held floats (f4/f8) */
	float *f;         /* (n) when is_float */
	int64_t *i;       /* (n) when !is_float */
} npy_array;

int npy_load(FILE *fp, const char *name, npy_array *a, fmt_error *err);
void npy_free(npy_array *a);

#endif
