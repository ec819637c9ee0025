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
		a->base = a->alloc(a->dev, bytes);
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
			a->release(a->dev, a->base);
		else
			free(a->base);
	}
	a->base = NULL;
	a->cap = 0;
}

void reuse_init(arena_reuse *p) { memset(p, 0, sizeof *p); }

int reuse_new(arena_reuse *p, size_t floats)
{
	size_t bytes;
	if (size_mul(floats, sizeof(float), &bytes) || size_add(bytes, 63, &bytes))
		die("arena: slice of %zu floats is too large", floats);
	bytes &= ~(size_t)63;
	if (p->placed) { /* second recording: the same slices in the same order */
		if (p->next >= p->n || p->s[p->next].bytes != bytes || p->s[p->next].first != p->now)
			die("internal error: forward-only plan recorded differently the second time");
		return p->next++;
	}
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->s = xrealloc_array(p->s, (size_t)p->cap, sizeof *p->s);
	}
	p->s[p->n] = (reuse_span){bytes, 0, p->now, p->now};
	return p->n++;
}

void reuse_read(arena_reuse *p, int id)
{
	if (!p->placed && p->s[id].last < p->now)
		p->s[id].last = p->now;
}

void reuse_step(arena_reuse *p) { p->now++; }

static int live_together(const reuse_span *a, const reuse_span *b) { return a->first <= b->last && b->first <= a->last; }

/* Greedy placement: slices by decreasing size; each at the lowest offset where it overlaps no placed slice that is
 * live with it (moving past each conflicting slice skips only offsets that conflict with it). n is a few hundred
 * at most (one ResNet's activations), so the quadratic scans cost nothing. */
size_t reuse_place(arena_reuse *p)
{
	int *order = xmalloc_array((size_t)(p->n ? p->n : 1), sizeof(int));
	for (int i = 0; i < p->n; i++)
		order[i] = i;
	for (int i = 1; i < p->n; i++) /* insertion sort, stable: equal sizes keep their recording order */
		for (int j = i; j > 0 && p->s[order[j - 1]].bytes < p->s[order[j]].bytes; j--) {
			int t = order[j];
			order[j] = order[j - 1], order[j - 1] = t;
		}
	size_t total = 0;
	for (int i = 0; i < p->n; i++) {
		reuse_span *a = &p->s[order[i]];
		size_t off = 0;
		for (int moved = 1; moved;) {
			moved = 0;
			for (int j = 0; j < i; j++) {
				const reuse_span *b = &p->s[order[j]];
				if (live_together(a, b) && off < b->off + b->bytes && b->off < off + a->bytes) {
					off = b->off + b->bytes;
					moved = 1;
				}
			}
		}
		a->off = off;
		if (off + a->bytes > total)
			total = off + a->bytes;
	}
	free(order);
	p->placed = 1;
	return total;
}

void reuse_rewind(arena_reuse *p)
{
	p->next = 0;
	p->now = 0;
}

float *reuse_ptr(const arena_reuse *p, char *region, int id)
{
	return region ? (float *)(region + p->s[id].off) : NULL;
}

void reuse_free(arena_reuse *p)
{
	free(p->s);
	reuse_init(p);
}
