/* arena.c: see arena.h. */
#include "arena.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void arena_init(arena *a) { memset(a, 0, sizeof *a); }

void arena_begin(arena *a) { a->used = 0; }

void arena_measure(arena *a)
{
	if (a->base)
		a->kept = a->base;
	a->base = NULL;
	a->used = 0;
}

float *arena_floats(arena *a, size_t n)
{
	size_t bytes;
	if (size_mul(n, sizeof(float), &bytes) || size_add(bytes, 63, &bytes))
		die("arena: slice of %zu floats is too large", n);
	bytes &= ~(size_t)63;
	size_t off = a->used;
	if (size_add(a->used, bytes, &a->used))
		die("arena: total size overflows");
	if (!a->base)
		return NULL;
	if (a->used > a->cap)
		die("internal error: arena slice beyond the planned size (%zu > %zu)", a->used, a->cap);
	return (float *)(a->base + off);
}

void arena_commit(arena *a)
{
	if (a->kept) {
		a->base = a->kept;
		a->kept = NULL;
	}
	if (a->base && a->used <= a->cap)
		return;
	arena_free(a);
	size_t bytes = a->used ? a->used : 64;
	if (a->alloc) {
		a->base = a->alloc(bytes);
	} else {
		a->base = aligned_alloc(64, bytes);
		if (a->base)
			memset(a->base, 0, bytes);
	}
	if (!a->base)
		die("out of memory allocating %zu bytes of activations", bytes);
	a->cap = bytes;
}

void arena_free(arena *a)
{
	if (!a->base) { /* a block set aside by arena_measure is still owned */
		a->base = a->kept;
		a->kept = NULL;
	}
	if (a->base) {
		if (a->release)
			a->release(a->base);
		else
			free(a->base);
	}
	a->base = NULL;
	a->cap = 0;
}
