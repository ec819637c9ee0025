/* Unit tests for libcommon/metrics: Recall@K, Precision@K, R-Precision, MAP@R, lone and truncated queries, slice
 * means. Every expected value is worked out by hand in the comments. */
#include "harness.h"
#include "metrics.h"

#include <stdint.h>

static void add(metrics_acc *m, int32_t label, uint32_t R, const int32_t *labels, uint32_t n)
{
	avg_query q = {.id = 0, .label = label, .n_relevant = R, .count = n};
	avg_neighbour nb[16];
	for (uint32_t j = 0; j < n; j++)
		nb[j] = (avg_neighbour){.id = (int64_t)j, .label = labels[j], .dist = (float)j};
	metrics_add(m, &q, nb);
}

/* The four queries used below:
 *   A: label 1, R = 3, neighbours 1 0 1 0 1
 *      R@1 = 1, R@2 = 1, R@4 = 1; P@1 = 1, P@2 = 1/2, P@4 = 2/4
 *      first R = 3: 1 0 1 -> R-Prec = 2/3; MAP@R = (1/3)(1/1 + 2/3) = 5/9
 *   B: label 2, R = 2, neighbours 0 2 2 0
 *      R@1 = 0, R@2 = 1, R@4 = 1; P@1 = 0, P@2 = 1/2, P@4 = 2/4
 *      first 2: 0 2 -> R-Prec = 1/2; MAP@R = (1/2)(1/2) = 1/4
 *   C: label 3, R = 0: lone, excluded
 *   D: label 4, R = 4, only 2 neighbours (truncated): 4 4
 *      R@1 = 1; P@4 = 2/4; R-Prec = 2/4; MAP@R = (1/4)(1/1 + 2/2) = 1/2
 * Global over A, B, D: R@1 = 2/3, R@2 = 1, P@2 = (1/2 + 1/2 + 1)/3 = 2/3, P@4 = 1/2,
 *   R-Prec = (2/3 + 1/2 + 1/2)/3 = 5/9, MAP@R = (5/9 + 1/4 + 1/2)/3 = 47/108. */
static void fill(metrics_acc *m)
{
	long ks[] = {1, 2, 4};
	metrics_init(m, ks, 3);
	int32_t a[] = {1, 0, 1, 0, 1}, b[] = {0, 2, 2, 0}, c[] = {0, 1}, d[] = {4, 4};
	add(m, 1, 3, a, 5);
	add(m, 2, 2, b, 4);
	add(m, 3, 0, c, 2);
	add(m, 4, 4, d, 2);
}

TEST(global_means_worked_by_hand)
{
	metrics_acc m;
	metrics_mean g;
	fill(&m);
	metrics_global(&m, &g);
	CHECK(g.evaluated == 3 && m.n == 4 && m.n_lone == 1 && m.n_trunc == 1);
	CHECK_CLOSE(g.recall[0], 2.0 / 3, 1e-7, 0);
	CHECK_CLOSE(g.recall[1], 1.0, 1e-7, 0);
	CHECK_CLOSE(g.recall[2], 1.0, 1e-7, 0);
	CHECK_CLOSE(g.precision[0], 2.0 / 3, 1e-7, 0);
	CHECK_CLOSE(g.precision[1], 2.0 / 3, 1e-7, 0);
	CHECK_CLOSE(g.precision[2], 0.5, 1e-7, 0);
	CHECK_CLOSE(g.r_precision, 5.0 / 9, 1e-7, 0);
	CHECK_CLOSE(g.map_at_r, 47.0 / 108, 1e-7, 0);
	metrics_free(&m);
}

TEST(slice_mean_is_unweighted_over_slices)
{
	/* S = 2 over 4 queries: slices [A, B] and [C, D]; C is lone so slice 2 is D alone.
	 * R@1: (1/2 + 1)/2 = 3/4 (global 2/3); MAP@R: ((5/9 + 1/4)/2 + 1/2)/2 = (29/72 + 36/72)/2 = 65/144. */
	metrics_acc m;
	metrics_mean s;
	fill(&m);
	CHECK(metrics_sliced(&m, 2, &s) == 0);
	CHECK(s.slices == 2 && s.evaluated == 2);
	CHECK_CLOSE(s.recall[0], 0.75, 1e-7, 0);
	CHECK_CLOSE(s.map_at_r, 65.0 / 144, 1e-7, 0);
	/* S = 3: rows = floor(4/3) = 1: [A] [B] [C] and the remainder [D]; C's slice has nobody to average: skipped.
	 * R@1 = (1 + 0 + 1)/3 = 2/3. */
	CHECK(metrics_sliced(&m, 3, &s) == 0);
	CHECK(s.slices == 4 && s.evaluated == 3);
	CHECK_CLOSE(s.recall[0], 2.0 / 3, 1e-7, 0);
	CHECK(metrics_sliced(&m, 5, &s) == -1 && metrics_sliced(&m, 0, &s) == -1);
	metrics_free(&m);
}

TEST(slice_mean_sop_shape_with_remainder_slice)
{
	/* 7 queries, S = 3: rows = 2 -> [0,2) [2,4) [4,6) and the remainder [6,7): 4 slices, like SOP's 100 + 1.
	 * Hits (R@1): 1 1 | 0 0 | 1 1 | 0 -> slice means 1, 0, 1, 0 -> 1/2; global 4/7. */
	long ks[] = {1};
	metrics_acc m;
	metrics_init(&m, ks, 1);
	int hit[] = {1, 1, 0, 0, 1, 1, 0};
	for (int i = 0; i < 7; i++) {
		int32_t nb = hit[i] ? 5 : 6;
		add(&m, 5, 1, &nb, 1);
	}
	metrics_mean g, s;
	metrics_global(&m, &g);
	CHECK(metrics_sliced(&m, 3, &s) == 0);
	CHECK(s.slices == 4);
	CHECK_CLOSE(s.recall[0], 0.5, 1e-9, 0);
	CHECK_CLOSE(g.recall[0], 4.0 / 7, 1e-9, 0);
	metrics_free(&m);
}

TEST(map_at_r_rewards_early_hits)
{
	/* R = 2: hits at ranks 1, 2 -> 1; at ranks 2, 3 (R-window 2) -> (1/2)(1/2) = 1/4; at 1, 3 -> (1/2)(1) = 1/2. */
	long ks[] = {3};
	metrics_acc m;
	metrics_init(&m, ks, 1);
	int32_t a[] = {7, 7, 0}, b[] = {0, 7, 7}, c[] = {7, 0, 7};
	add(&m, 7, 2, a, 3);
	add(&m, 7, 2, b, 3);
	add(&m, 7, 2, c, 3);
	CHECK_CLOSE(m.v[0 * 4 + 3], 1.0, 1e-7, 0);
	CHECK_CLOSE(m.v[1 * 4 + 3], 0.25, 1e-7, 0);
	CHECK_CLOSE(m.v[2 * 4 + 3], 0.5, 1e-7, 0);
	CHECK_CLOSE(m.v[2 * 4 + 1], 2.0 / 3, 1e-7, 0); /* P@3 of c */
	metrics_free(&m);
}

int main(void)
{
	RUN(global_means_worked_by_hand);
	RUN(slice_mean_is_unweighted_over_slices);
	RUN(slice_mean_sop_shape_with_remainder_slice);
	RUN(map_at_r_rewards_early_hits);
	return harness_finish();
}
