/* arena.h: plan sizes once, make one allocation, hand out slices (activations of a training step).
 *
 * Use: arena_begin(a); take every slice (arena_floats returns NULL while measuring, the first time); then
 * arena_commit(a) allocates; run the same sequence of arena_floats again after arena_begin to get the pointers.
 * A device arena (CUDA) sets alloc/release to the device allocator; a host arena leaves them NULL. Nothing in
 * the arena is freed slice by slice; arena_free releases the one block.
 */
#ifndef AVSL_ARENA_H
#define AVSL_ARENA_H

#include <stddef.h>

typedef struct {
	char *base;                     /* NULL until committed: arena_floats then only measures */
	char *kept;                     /* the block set aside by arena_measure */
	size_t cap, used;
	void *(*alloc)(size_t bytes);   /* device allocator, or NULL for host memory (64-byte aligned) */
	void (*release)(void *p);
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

#endif
