/* Unit tests for libcommon/util, rng and threadpool. */
#include "harness.h"
#include "rng.h"
#include "threadpool.h"
#include "util.h"

#include <stdatomic.h>
#include <stdint.h>

TEST(parse_long_accepts_in_range)
{
	long v;
	const char *why;
	CHECK(parse_long("42", 0, 100, &v, &why) == 0 && v == 42);
	CHECK(parse_long("-7", -10, 10, &v, &why) == 0 && v == -7);
}

TEST(parse_long_rejects_garbage_and_range)
{
	long v = 5;
	const char *why = NULL;
	CHECK(parse_long("12x", 0, 99, &v, &why) == -1 && v == 5);
	CHECK(parse_long("", 0, 99, &v, &why) == -1);
	CHECK(parse_long(" 1", 0, 99, &v, &why) == -1);
	CHECK(parse_long("100", 0, 99, &v, &why) == -1 && strstr(why, "out of range [0, 99]"));
	CHECK(parse_long("99999999999999999999999", 0, 99, &v, &why) == -1);
}

TEST(parse_double_rejects_nan_and_inf)
{
	double v;
	const char *why;
	CHECK(parse_double("0.5", 0, 1, &v, &why) == 0 && v == 0.5);
	CHECK(parse_double("nan", -1e9, 1e9, &v, &why) == -1);
	CHECK(parse_double("inf", -1e300, 1e300, &v, &why) == -1);
	CHECK(parse_double("1e-4", 0, 1, &v, &why) == 0 && v == 1e-4);
}

TEST(parse_size_suffixes_and_overflow)
{
	uint64_t v;
	const char *why;
	CHECK(parse_size("64M", 0, UINT64_MAX, &v, &why) == 0 && v == 64ull << 20);
	CHECK(parse_size("3k", 0, UINT64_MAX, &v, &why) == 0 && v == 3072);
	CHECK(parse_size("2GiB", 0, UINT64_MAX, &v, &why) == 0 && v == 2ull << 30);
	CHECK(parse_size("99999999999T", 0, UINT64_MAX, &v, &why) == -1);
	CHECK(parse_size("12Q", 0, UINT64_MAX, &v, &why) == -1);
	CHECK(parse_size("-1", 0, UINT64_MAX, &v, &why) == -1);
}

TEST(parse_long_list_reads_k_lists)
{
	long ks[8];
	const char *why;
	CHECK(parse_long_list("1,2,4,8", 1, 1000, ks, 8, &why) == 4 && ks[3] == 8);
	CHECK(parse_long_list("1,,2", 1, 1000, ks, 8, &why) == -1);
	CHECK(parse_long_list("1,2,3", 1, 1000, ks, 2, &why) == -1);
}

TEST(size_mul_detects_overflow)
{
	size_t r;
	CHECK(size_mul(SIZE_MAX / 2 + 1, 2, &r) == -1);
	CHECK(size_mul(1000, 1000, &r) == 0 && r == 1000000);
	CHECK(size_add(SIZE_MAX, 1, &r) == -1);
}

TEST(philox_known_answer)
{
	/* Random123 known-answer test for philox4x32-10: counter 0, key 0. */
	uint32_t out[4];
	philox4x32(0, 0, 0, out);
	CHECKF(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u,
	       "%08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
}

TEST(rng_uniform_moments)
{
	rng r;
	rng_init(&r, 1234, 7);
	double s = 0, s2 = 0;
	int n = 200000;
	for (int i = 0; i < n; i++) {
		float u = rng_uniform(&r);
		CHECK(u >= 0 && u < 1);
		s += u, s2 += (double)u * u;
	}
	double mean = s / n, var = s2 / n - mean * mean;
	CHECK_CLOSE(mean, 0.5, 0.005, 0);
	CHECK_CLOSE(var, 1.0 / 12, 0.002, 0);
}

TEST(rng_streams_are_pure_functions)
{
	rng a, b;
	rng_init(&a, 99, rng_stream_id(3, 17, 0));
	for (int i = 0; i < 5; i++)
		rng_u32(&a);
	uint32_t x = rng_u32(&a);
	rng_init(&b, 99, rng_stream_id(3, 17, 0));
	for (int i = 0; i < 5; i++)
		rng_u32(&b);
	CHECK(rng_u32(&b) == x);
	rng_init(&b, 99, rng_stream_id(3, 18, 0));
	for (int i = 0; i < 5; i++)
		rng_u32(&b);
	CHECK(rng_u32(&b) != x);
}

TEST(rng_below_is_in_range_and_covers)
{
	rng r;
	rng_init(&r, 5, 5);
	int seen[7] = {0};
	for (int i = 0; i < 7000; i++) {
		uint32_t v = rng_below(&r, 7);
		CHECK(v < 7);
		seen[v]++;
	}
	for (int i = 0; i < 7; i++)
		CHECK(seen[i] > 800 && seen[i] < 1200);
}

static void square_item(void *ctx, long i, int worker)
{
	(void)worker;
	long *out = ctx;
	out[i] = i * i;
}

static void count_item(void *ctx, long i, int worker)
{
	(void)i, (void)worker;
	atomic_fetch_add((atomic_long *)ctx, 1);
}

TEST(threadpool_runs_every_item_once)
{
	threadpool *p = pool_create(4);
	CHECK(pool_size(p) == 4);
	long out[1000];
	for (int round = 0; round < 20; round++) {
		memset(out, 0xff, sizeof out);
		pool_for(p, 1000, square_item, out);
		for (long i = 0; i < 1000; i++)
			CHECK(out[i] == i * i);
	}
	atomic_long c = 0;
	pool_for(p, 12345, count_item, &c);
	CHECK(atomic_load(&c) == 12345);
	pool_destroy(p);
}

int main(void)
{
	RUN(parse_long_accepts_in_range);
	RUN(parse_long_rejects_garbage_and_range);
	RUN(parse_double_rejects_nan_and_inf);
	RUN(parse_size_suffixes_and_overflow);
	RUN(parse_long_list_reads_k_lists);
	RUN(size_mul_detects_overflow);
	RUN(philox_known_answer);
	RUN(rng_uniform_moments);
	RUN(rng_streams_are_pure_functions);
	RUN(rng_below_is_in_range_and_covers);
	RUN(threadpool_runs_every_item_once);
	return harness_finish();
}
