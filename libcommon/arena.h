/* arena.h: plan sizes once, make one allocation, hand out slices (activations of a training step).
 *
 * Use: arena_begin(a); take every slice (arena_floats returns NULL while measuring, the first time); then
 * arena_commit(a) allocates; run the same sequence of arena_floats again after arena_begin to get the pointers.
 * A device arena (CUDA) sets alloc/release to the device allocator (devmem.h: devmem_arena); a host arena leaves
 * them NULL. Nothing in the arena is freed slice by slice; arena_free releases the one block.
 */
#ifndef AVSL_ARENA_H
#define AVSL_ARENA_H

#include <stddef.h>

typedef struct {
	char *base;                     /* NULL until committed: arena_floats then only measures */
	char *kept;                     /* the block set aside by arena_measure */
	size_t cap, used;
	void *(*alloc)(void *dev, size_t bytes); /* device allocator (zero-filled block), or NULL for host memory */
	void (*release)(void *dev, void *p);
	void *dev;                      /* the allocator's argument (an op_ctx) */
} arena;

void arena_init(arena *a);
void arena_begin(arena *a);
/* Start a measuring pass over an arena that may already hold a block (a new plan): slices return NULL until the
 * next arena_commit, which keeps the block when the new plan fits and grows it otherwise. */
void arena_measure(arena *a);
/* A slice of n floats (n may be 0), 64-byte aligned. NULL while measuring (base == NULL). */
float *arena_floats(arena *a, size_t n);
/* Allocate (or grow to) the measured size; zero-filled on the host. Dies when out of memory. */
void arena_commit(arena *a);
void arena_free(arena *a);

/* Lifetime planning for a forward-only pass (inference): slices that are never live at the same step share bytes.
 * A plan is recorded twice, by the same sequence of calls: reuse_new (a slice written at the current step),
 * reuse_read (read at the current step: it stays live until then), reuse_step (the next op). After the first
 * recording, reuse_place assigns offsets (largest slice first, lowest free offset) and returns the bytes the
 * region needs; reuse_rewind starts the second recording, whose reuse_ptr gives each slice's address. */
typedef struct {
	size_t bytes, off; /* 64-byte multiples */
	int first, last;   /* steps during which the slice is live */
} reuse_span;

typedef struct {
	reuse_span *s;
	int n, cap;
	int next;   /* second recording: the next slice id */
	int now;    /* the current step */
	int placed; /* offsets assigned */
} arena_reuse;

void reuse_init(arena_reuse *p);
int reuse_new(arena_reuse *p, size_t floats);
void reuse_read(arena_reuse *p, int id);
void reuse_step(arena_reuse *p);
size_t reuse_place(arena_reuse *p);
void reuse_rewind(arena_reuse *p);
/* The slice's address inside region (NULL while region is NULL, i.e. measuring). */
float *reuse_ptr(const arena_reuse *p, char *region, int id);
void reuse_free(arena_reuse *p);

#endif
