/* Unit tests for libcommon/arena (plan, one allocation, slices; host and device-style allocators) and
 * libcommon/tensor (the descriptor) and the paramset's tensor views. */
#include "arena.h"
#include "harness.h"
#include "params.h"
#include "tensor.h"

#include <stdint.h>
#include <stdlib.h>

TEST(arena_measures_then_slices_aligned_and_disjoint)
{
	arena a;
	arena_init(&a);
	size_t sizes[5] = {1, 17, 0, 1000, 3};
	float *p[5];
	for (int pass = 0; pass < 2; pass++) {
		arena_begin(&a);
		for (int i = 0; i < 5; i++)
			p[i] = arena_floats(&a, sizes[i]);
		if (pass == 0) {
			for (int i = 0; i < 5; i++)
				CHECK(p[i] == NULL); /* measuring: nothing allocated yet */
			arena_commit(&a);
		}
	}
	for (int i = 0; i < 5; i++) {
		CHECK(p[i] != NULL);
		CHECK(((uintptr_t)p[i] & 63) == 0);
	}
	/* slices follow each other without overlap: each starts at or after the previous end */
	for (int i = 1; i < 5; i++)
		CHECK((char *)p[i] >= (char *)(p[i - 1] + sizes[i - 1]));
	for (size_t j = 0; j < 1000; j++)
		CHECK(p[3][j] == 0.0f); /* host arenas are zero-filled */
	size_t cap = a.cap;
	arena_commit(&a); /* same plan: no reallocation */
	CHECK(a.cap == cap);
	arena_free(&a);
	CHECK(a.base == NULL);
}

static int allocs, releases;
static void *fake_device_alloc(void *dev, size_t n)
{
	(void)dev;
	allocs++;
	return malloc(n);
}
static void fake_device_release(void *dev, void *p)
{
	(void)dev;
	releases++;
	free(p);
}

TEST(arena_device_allocator_is_used_for_the_one_block)
{
	arena a;
	arena_init(&a);
	a.alloc = fake_device_alloc;
	a.release = fake_device_release;
	allocs = releases = 0;
	arena_begin(&a);
	arena_floats(&a, 100);
	arena_floats(&a, 200);
	arena_commit(&a);
	CHECK(allocs == 1 && releases == 0);
	arena_measure(&a); /* a bigger plan grows the block: one release, one allocation */
	arena_floats(&a, 100);
	arena_floats(&a, 5000);
	arena_commit(&a);
	CHECK(allocs == 2 && releases == 1);
	arena_measure(&a); /* a smaller plan keeps the block */
	arena_floats(&a, 10);
	arena_commit(&a);
	CHECK(allocs == 2 && releases == 1);
	arena_begin(&a);
	CHECK(arena_floats(&a, 10) == (float *)a.base);
	arena_free(&a);
	CHECK(releases == 2);
}

TEST(tensor_descriptor_sizes_and_shape_string)
{
	float buf[24];
	int64_t shape[3] = {2, 3, 4};
	tensor t = tensor_f32(buf, 3, shape);
	CHECK(tensor_numel(&t) == 24 && tensor_bytes(&t) == 96);
	char s[64];
	CHECK(strcmp(tensor_shape_str(&t, s, sizeof s), "(2, 3, 4)") == 0);
	char tiny[4];
	tensor_shape_str(&t, tiny, sizeof tiny);
	CHECK(strlen(tiny) == 3); /* truncated, still terminated */
	int64_t other[3] = {2, 4, 3};
	tensor u = tensor_f32(buf, 3, other);
	CHECK(!tensor_same_shape(&t, &u) && tensor_same_shape(&t, &t));
	tensor big = t;
	big.shape[0] = INT64_MAX / 2;
	big.shape[1] = 4;
	CHECK(tensor_numel(&big) == SIZE_MAX || tensor_bytes(&big) == SIZE_MAX);
}

TEST(paramset_tensor_views_point_into_the_flat_buffers)
{
	paramset ps;
	paramset_init(&ps);
	int64_t s1[2] = {3, 5}, s2[1] = {7};
	int a = paramset_add(&ps, "a", 2, s1, PG_TRUNK, 1);
	int b = paramset_add(&ps, "b", 1, s2, PG_NONE, 0);
	paramset_finalize(&ps);
	tensor ta = paramset_tensor(&ps, a, 0), gb = paramset_tensor(&ps, b, 1);
	CHECK(ta.data == paramset_data(&ps, a) && gb.data == paramset_grad(&ps, b));
	CHECK(tensor_numel(&ta) == 15 && tensor_numel(&gb) == 7);
	CHECK(((uintptr_t)ta.data & 63) == 0 && ((uintptr_t)gb.data & 63) == 0);
	CHECK(paramset_trainable_count(&ps) == 15);
	paramset_free(&ps);
}

/* The lifetime planner: slices live at the same step never share bytes (checked pairwise against a naive rule),
 * the region is at least the most bytes live at one step, and a chain of same-size slices each read by the next
 * step only needs two of them. */
TEST(reuse_places_slices_live_together_apart)
{
	arena_reuse p;
	reuse_init(&p);
	uint32_t st = 12345;
	enum { S = 200 };
	int ids[S];
	for (int i = 0; i < S; i++) {
		st = st * 1664525u + 1013904223u;
		ids[i] = reuse_new(&p, 1 + (st >> 8) % 5000);
		if (i > 3) { /* read one of the last few slices */
			st = st * 1664525u + 1013904223u;
			reuse_read(&p, ids[i - 1 - (int)((st >> 8) % 4)]);
		}
		if (i % 3 == 2)
			reuse_step(&p);
	}
	size_t total = reuse_place(&p), most = 0;
	int bad = 0;
	for (int i = 0; i < p.n; i++)
		for (int j = i + 1; j < p.n; j++) {
			const reuse_span *a = &p.s[i], *b = &p.s[j];
			int live = a->first <= b->last && b->first <= a->last;
			int share = a->off < b->off + b->bytes && b->off < a->off + a->bytes;
			bad += live && share;
		}
	for (int t = 0; t <= p.now; t++) {
		size_t live = 0;
		for (int i = 0; i < p.n; i++)
			if (p.s[i].first <= t && t <= p.s[i].last)
				live += p.s[i].bytes;
		most = live > most ? live : most;
	}
	for (int i = 0; i < p.n; i++)
		bad += p.s[i].off % 64 != 0 || p.s[i].off + p.s[i].bytes > total;
	CHECK(bad == 0);
	CHECK(total >= most);
	reuse_rewind(&p);
	CHECK(reuse_ptr(&p, (char *)64, 0) == (float *)(64 + p.s[0].off));
	reuse_free(&p);

	reuse_init(&p);
	int prev = reuse_new(&p, 1000);
	for (int i = 0; i < 10; i++) {
		reuse_step(&p);
		reuse_read(&p, prev);
		prev = reuse_new(&p, 1000);
	}
	CHECK(reuse_place(&p) == 2 * 4032);
	reuse_free(&p);
}

int main(void)
{
	RUN(arena_measures_then_slices_aligned_and_disjoint);
	RUN(arena_device_allocator_is_used_for_the_one_block);
	RUN(reuse_places_slices_live_together_apart);
	RUN(tensor_descriptor_sizes_and_shape_string);
	RUN(paramset_tensor_views_point_into_the_flat_buffers);
	return harness_finish();
}
