/* tensor.h: a tensor descriptor: where the data is (host or device), its element type and its shape.
 *
 * A view, never an owner: it borrows the memory of a paramset, an arena or a file mapping. Used where code handles
 * tensors generically (the checkpoint writer walks the paramset as tensor views); the ops themselves take plain
 * pointers and shape structs (kernels/ops.h) so that kernels depend on nothing of ours.
 */
#ifndef AVSL_TENSOR_H
#define AVSL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

enum { TENSOR_MAX_DIMS = 4 };

typedef enum { TENSOR_F32 = 0, TENSOR_I32 = 1, TENSOR_I64 = 2, TENSOR_U8 = 3 } tensor_dtype;
typedef enum { TENSOR_HOST = 0, TENSOR_DEVICE = 1 } tensor_place;

typedef struct {
	void *data;
	tensor_dtype dtype;
	tensor_place place;
	int ndim;
	int64_t shape[TENSOR_MAX_DIMS];
} tensor;

/* A host float32 view of data with the given shape (ndim <= TENSOR_MAX_DIMS, every dim >= 1; dies otherwise). */
tensor tensor_f32(float *data, int ndim, const int64_t *shape);
size_t tensor_dtype_size(tensor_dtype d);
/* Elements, or SIZE_MAX when the product overflows. */
size_t tensor_numel(const tensor *t);
/* Bytes of data (numel * element size), or SIZE_MAX on overflow. */
size_t tensor_bytes(const tensor *t);
/* Same dtype and shape. */
int tensor_same_shape(const tensor *a, const tensor *b);
/* "(64, 3, 7, 7)" into buf (always NUL-terminated); returns buf. */
char *tensor_shape_str(const tensor *t, char *buf, size_t len);

#endif
