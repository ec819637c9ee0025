/* devmem.h: buffers in the memory of an op context's device, for library code that runs the same ops on the CPU and
 * on CUDA (the model's inference path, the AVSL graph tiles). On the CPU every function is the plain host one
 * (malloc, memcpy), so CPU results stay bit-identical to code that never heard of devices; on CUDA the buffers are
 * device memory (op_alloc) and the copies op_upload/op_download. Every function dies with the context's error.
 */
#ifndef AVSL_DEVMEM_H
#define AVSL_DEVMEM_H

#include <stddef.h>

#include "arena.h"
#include "ops.h"

/* 1 when ctx computes in memory other than the host's (CUDA). */
int devmem_is_device(const op_ctx *ctx);
/* What the out-of-memory message tells the user to lower, e.g. "the batch size (-b)" (a tool sets it once, after
 * opening its device; default "the batch size"). */
void devmem_set_hint(const char *what_to_lower);
/* Die with the one-line out-of-memory message: "cuda:0: out of device memory: WHAT (X MB) does not fit (F of T MB
 * free); lower HINT" (op_mem_info). */
void devmem_die_no_room(op_ctx *ctx, const char *what, size_t bytes) __attribute__((noreturn));
/* count * size bytes (uninitialised) in ctx's memory; devmem_free(ctx, NULL) does nothing. */
void *devmem_alloc(op_ctx *ctx, size_t count, size_t size);
void devmem_free(op_ctx *ctx, void *p);
/* Host -> ctx's memory and back (on the CPU: memcpy when the pointers differ). download returns once the data is on
 * the host; upload's source must stay valid until the next download or op_ctx_sync. */
void devmem_upload(op_ctx *ctx, void *dst, const void *src, size_t bytes);
void devmem_download(op_ctx *ctx, void *dst, const void *src, size_t bytes);
/* dst = src, n floats, both in ctx's memory (CUDA: a device copy, op_layout_convert of one plain row). */
void devmem_copy(op_ctx *ctx, float *dst, const float *src, size_t n);
/* Make a's block device memory of ctx when ctx is a device (a no-op for the CPU). Call before the first commit. */
void devmem_arena(arena *a, op_ctx *ctx);

#endif
