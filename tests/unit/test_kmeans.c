/* Unit tests for libcommon/kmeans: NMI against hand-worked values, k-means on separated clusters, determinism over
 * thread counts and the seed's effect. (tests/cli/retrieval.sh checks avsl-eval --nmi against numpy.) */
#include "harness.h"
#include "kmeans.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

TEST(nmi_identical_and_renamed)
{
	int32_t a[6] = {0, 0, 1, 1, 2, 2}, b[6] = {7, 7, -3, -3, 5, 5};
	CHECK_CLOSE(nmi(a, a, 6), 1.0, 1e-12, 0);
	CHECK_CLOSE(nmi(a, b, 6), 1.0, 1e-12, 0);
}

TEST(nmi_independent_is_zero)
{
	/* a splits by halves, b alternates: every (a, b) cell holds exactly n/4 items, so I(A; B) = 0 */
	int32_t a[8] = {0, 0, 0, 0, 1, 1, 1, 1}, b[8] = {0, 1, 0, 1, 0, 1, 0, 1};
	CHECK_CLOSE(nmi(a, b, 8), 0.0, 1e-12, 0);
}

TEST(nmi_hand_worked)
{
	/* a = {0,0,1,1}, b = {0,0,0,1}: H(A) = ln 2; H(B) = -(3/4 ln 3/4 + 1/4 ln 1/4);
	 * I = sum p(a,b) ln(p(a,b) / p(a)p(b))
	 *   = 1/2 ln((1/2)/(1/2*3/4)) + 1/4 ln((1/4)/(1/2*3/4)) + 1/4 ln((1/4)/(1/2*1/4)) */
	int32_t a[4] = {0, 0, 1, 1}, b[4] = {0, 0, 0, 1};
	double ha = log(2.0), hb = -(0.75 * log(0.75) + 0.25 * log(0.25));
	double mi = 0.5 * log(0.5 / 0.375) + 0.25 * log(0.25 / 0.375) + 0.25 * log(0.25 / 0.125);
	CHECK_CLOSE(nmi(a, b, 4), mi / ((ha + hb) / 2), 1e-12, 0);
	/* both single-class: 1 by convention; one single-class: 0 */
	int32_t one[4] = {3, 3, 3, 3};
	CHECK_CLOSE(nmi(one, one, 4), 1.0, 0, 0);
	CHECK_CLOSE(nmi(a, one, 4), 0.0, 1e-12, 0);
}

/* n points around k corners of a hypercube (far apart), labels = corner. */
static void corners(float *x, int32_t *lab, int n, int D, int k)
{
	uint64_t s = 12345;
	for (int i = 0; i < n; i++) {
		lab[i] = (i * 7) % k;
		for (int j = 0; j < D; j++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			float noise = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
			x[i * D + j] = (j == lab[i] ? 10.0f : 0.0f) + 0.1f * noise;
		}
	}
}

TEST(kmeans_finds_separated_clusters)
{
	enum { N = 300, D = 12, K = 6 };
	float *x = malloc(sizeof(float) * N * D);
	int32_t lab[N], as1[N], as2[N], as3[N];
	corners(x, lab, N, D, K);
	int it = kmeans(x, N, D, K, 20, 0, 1, as1);
	CHECKF(it >= 1 && it <= 20, "iterations %d", it);
	CHECK_CLOSE(nmi(lab, as1, N), 1.0, 1e-9, 0);
	kmeans(x, N, D, K, 20, 0, 3, as2);
	CHECK(memcmp(as1, as2, sizeof as1) == 0); /* the thread count changes nothing */
	kmeans(x, N, D, K, 20, 0, 1, as3);
	CHECK(memcmp(as1, as3, sizeof as1) == 0); /* nor a rerun */
	for (int i = 0; i < N; i++)
		CHECK(as1[i] >= 0 && as1[i] < K);
	free(x);
}

TEST(kmeans_zero_iterations_assigns_to_initial_points)
{
	/* with iters = 0 every point goes to its nearest initial centroid: k distinct data points, so each centroid's
	 * own point is at distance 0 and is assigned to it */
	enum { N = 50, D = 4, K = 5 };
	float x[N * D];
	int32_t lab[N], as[N];
	corners(x, lab, N, D, K > D ? D : K);
	kmeans(x, N, D, K, 0, 9, 2, as);
	int used[K] = {0};
	for (int i = 0; i < N; i++)
		used[as[i]]++;
	for (int j = 0; j < K; j++)
		CHECKF(used[j] >= 1, "centroid %d has no point", j);
}

int main(void)
{
	RUN(nmi_identical_and_renamed);
	RUN(nmi_independent_is_zero);
	RUN(nmi_hand_worked);
	RUN(kmeans_finds_separated_clusters);
	RUN(kmeans_zero_iterations_assigns_to_initial_points);
	return harness_finish();
}
