/* Unit tests for the k-NN ops (op_topk_*, op_dot_tile) and knn: list order and ties, the dot tile against its naive
 * twin, and the tiled graph against a brute-force sort (one piece, tiles, threads, shards must give identical graphs). Inputs
 * are generated in-process (no file format involved). */
#include "test_ctx.h"
#include "harness.h"
#include "knn.h"
#include "rng.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>

/* A small deterministic generator for test data (independent of rng.h's API). */
static uint64_t lcg_state;
static float frand(void)
{
	lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (float)((lcg_state >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
}

/* A set of n items, `levels` levels of dimension D each, labels i % classes, ids 1000 + i. */
static void make_set(ave_set *s, uint64_t n, int levels, int D, int classes, uint64_t seed)
{
	memset(s, 0, sizeof *s);
	lcg_state = seed;
	s->h.levels = (uint32_t)levels;
	for (int l = 0; l < levels; l++)
		s->h.dim[l] = (uint32_t)D;
	s->h.kind = AVE_KIND_PLAIN;
	s->h.count = n;
	s->n = n;
	s->id = xmalloc_array(n, sizeof *s->id);
	s->label = xmalloc_array(n, sizeof *s->label);
	for (uint64_t i = 0; i < n; i++) {
		s->id[i] = 1000 + (int64_t)i;
		s->label[i] = (int32_t)(i % (uint64_t)classes);
	}
	for (int l = 0; l < levels; l++) {
		s->emb[l] = xmalloc_array(n * D, sizeof(float));
		for (uint64_t i = 0; i < n * D; i++)
			s->emb[l][i] = frand();
	}
}

static void free_set(ave_set *s)
{
	free(s->id);
	free(s->label);
	for (int l = 0; l < AVE_MAX_LEVELS; l++)
		free(s->emb[l]);
}

/* A collected graph: per query, count and neighbours (k slots). */
typedef struct {
	uint32_t k;
	uint64_t nq, base;
	avg_query *q;
	avg_neighbour *nb;
	uint64_t emitted, order_errors;
} graph;

static void collect(void *ctx, uint64_t qi, const avg_query *q, const avg_neighbour *nb)
{
	graph *g = ctx;
	if (qi != g->base + g->emitted)
		g->order_errors++;
	g->emitted++;
	uint64_t r = qi - g->base;
	g->q[r] = *q;
	memcpy(g->nb + r * g->k, nb, q->count * sizeof *nb);
}

static int run_graph(const ave_set *qs, const ave_set *gs, knn_metric m, uint32_t k, int threads, int tile,
		     uint64_t q0, uint64_t q1, graph *g)
{
	knn_opts o = {.query = qs, .gallery = gs, .metric = m, .k = k, .threads = threads, .tile = tile,
		      .q_begin = q0, .q_end = q1, .quiet = 1};
	g->k = k;
	g->nq = q1 - q0;
	g->base = q0;
	g->emitted = g->order_errors = 0;
	g->q = xcalloc(g->nq ? g->nq : 1, sizeof *g->q);
	g->nb = xcalloc((g->nq ? g->nq : 1) * k, sizeof *g->nb);
	char err[256];
	return knn_run(&o, collect, g, err, sizeof err);
}

static void free_graph(graph *g)
{
	free(g->q);
	free(g->nb);
}

/* Byte-identical graphs (same counts, ids, labels, distances). */
static int same_graph(const graph *a, const graph *b, uint64_t offset_b)
{
	for (uint64_t i = 0; i < b->nq; i++) {
		const avg_query *qa = &a->q[i + offset_b], *qb = &b->q[i];
		if (memcmp(qa, qb, sizeof *qa) != 0)
			return 0;
		if (memcmp(a->nb + (i + offset_b) * a->k, b->nb + i * b->k, qa->count * sizeof(avg_neighbour)))
			return 0;
	}
	return 1;
}

/* One list of K on the CPU: every value of vals offered in one tile (item i = index i). */
static void topk_of(const float *vals, int n, int K, float *dist, int32_t *idx, int threads)
{
	op_ctx *ctx = test_ctx(threads);
	if (op_topk_init(ctx, 1, K, dist, idx) || op_topk_merge(ctx, vals, 1, n, n, 1, 0, NULL, -1, dist, idx, K)) {
		fprintf(stderr, "topk: %s\n", ctx->err);
		exit(1);
	}
}

TEST(topk_keeps_k_smallest_with_index_ties)
{
	float vals[] = {5, 1, 3, 1, 0.5f, 3, 7, 1, -0.0f, NAN}, dist[4];
	int32_t idx[4];
	topk_of(vals, 10, 4, dist, idx, 1);
	/* smallest: -0 (8, as +0), 0.5 (4), then two of the three 1s: indices 1, 3 (ascending index order) */
	CHECK(idx[0] == 8 && idx[1] == 4 && idx[2] == 1 && idx[3] == 3);
	CHECK(dist[0] == 0.0f && !signbit(dist[0]) && dist[1] == 0.5f && dist[3] == 1.0f);
	/* distances order like the floats, negatives and +inf included; NaN is never listed */
	float f[] = {2.0f, INFINITY, 1e-30f, NAN, -3.5f, 0.0f, -1e-30f}, fd[7];
	int32_t fi[7];
	topk_of(f, 7, 7, fd, fi, 1);
	CHECK(fi[0] == 4 && fi[1] == 6 && fi[2] == 5 && fi[3] == 2 && fi[4] == 0 && fi[5] == 1 && fi[6] == -1);
	CHECK(fd[0] == -3.5f && fd[5] == INFINITY && fd[6] == INFINITY);
}

TEST(topk_result_independent_of_offer_order)
{
	enum { N = 500, K = 37 };
	float v[N], rv[N], d1[K], d2[K], d3[K];
	int32_t i1[K], i2[K], i3[K], cols[N];
	lcg_state = 7;
	for (int i = 0; i < N; i++)
		v[i] = (float)(int)(frand() * 20); /* many ties */
	topk_of(v, N, K, d1, i1, 1);
	/* the same candidates in reverse order, in tiles of 7, named by an index list, on 2 threads */
	for (int i = 0; i < N; i++)
		rv[i] = v[N - 1 - i], cols[i] = N - 1 - i;
	op_ctx *ctx = test_ctx(2);
	int rc = op_topk_init(ctx, 1, K, d2, i2);
	for (int c0 = 0; c0 < N && !rc; c0 += 7)
		rc = op_topk_merge(ctx, rv + c0, 1, N - c0 < 7 ? N - c0 : 7, 7, 1, 0, cols + c0, -1, d2, i2, K);
	CHECK(rc == 0);
	CHECK(memcmp(d1, d2, sizeof d1) == 0 && memcmp(i1, i2, sizeof i1) == 0);
	/* and transposed: v as column 0 of an (N, 2) row-major tile, read by 2 lists (rstride 1, cstride 2) */
	float *t2 = xmalloc_array(2 * N, sizeof *t2), d4[2 * K];
	int32_t i4[2 * K];
	for (int i = 0; i < N; i++)
		t2[2 * i] = v[i], t2[2 * i + 1] = -v[i];
	rc = op_topk_init(ctx, 2, K, d4, i4) || op_topk_merge(ctx, t2, 2, N, 1, 2, 0, NULL, -1, d4, i4, K);
	free(t2);
	memcpy(d3, d4, sizeof d3), memcpy(i3, i4, sizeof i3);
	CHECK(rc == 0 && memcmp(d1, d3, sizeof d1) == 0 && memcmp(i1, i3, sizeof i1) == 0);
	for (int j = 1; j < K; j++)
		CHECK(d1[j - 1] < d1[j] || (d1[j - 1] == d1[j] && i1[j - 1] < i1[j]));
	/* the K kept are the K smallest: every value left out is >= the largest kept */
	for (int i = 0; i < N; i++) {
		int kept = 0;
		for (int j = 0; j < K; j++)
			kept |= i1[j] == i;
		CHECK(kept || v[i] >= d1[K - 1]);
	}
}

TEST(dot_tile_matches_naive_bit_for_bit)
{
	/* Odd sizes exercise the panel edges; the chains are identical, so equality is exact, for every mode and
	 * thread count, and with the operands swapped (the transpose). */
	int R = 13, C = 37, D = 29;
	float *a = xmalloc_array((size_t)R * D, 4), *b = xmalloc_array((size_t)C * D, 4);
	float *o1 = xmalloc_array((size_t)R * C, 4), *o2 = xmalloc_array((size_t)R * C, 4), *o3 = xmalloc_array((size_t)C * R, 4);
	lcg_state = 3;
	for (int i = 0; i < R * D; i++)
		a[i] = frand();
	for (int i = 0; i < C * D; i++)
		b[i] = frand();
	int ok = 1, okt = 1;
	for (int mode = OP_TILE_DOT; mode <= OP_TILE_L2; mode++)
		for (int t = 1; t <= 2; t++) {
			ok &= op_dot_tile(test_ctx(t), R, a, D, C, b, D, D, mode, o1, C) == 0;
			dot_tile_naive(R, a, D, C, b, D, D, mode, o2, C);
			ok &= op_dot_tile(test_ctx(t), C, b, D, R, a, D, D, mode, o3, R) == 0;
			ok &= memcmp(o1, o2, (size_t)R * C * 4) == 0;
			for (int r = 0; r < R; r++)
				for (int c = 0; c < C; c++)
					okt &= o1[r * C + c] == o3[c * R + r];
		}
	op_dot_tile(test_ctx(2), R, a, D, C, b, D, D, OP_TILE_DOT, o1, C);
	double err = 0;
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			double s = 0;
			for (int k = 0; k < D; k++)
				s += (double)a[r * D + k] * b[c * D + k];
			err = fmax(err, fabs(s - o1[r * C + c]));
		}
	free(a), free(b), free(o1), free(o2), free(o3);
	CHECK(ok);
	CHECK(okt);
	CHECKF(err < 1e-5, "max |dot - double| = %g", err); /* 29 float fmas of |x| <= 1: ~1e-6 */
}

/* Brute force: the exact (d, idx) order from distances computed in double; checks ids and distance values. */
static int brute_check(const ave_set *s, const graph *g, int metric_kind, double tol)
{
	uint64_t n = s->n;
	int D = (int)s->h.dim[0], L = (int)s->h.levels;
	double *d = xmalloc_array(n, sizeof *d);
	int32_t *ord = xmalloc_array(n, sizeof *ord);
	int bad = 0;
	for (uint64_t q = 0; q < g->nq && !bad; q++) {
		uint64_t qi = g->base + q;
		for (uint64_t j = 0; j < n; j++) {
			double tot = 0, dotv = 0, nq = 0, nj = 0;
			for (int l = 0; l < L; l++) {
				double a2 = 0, b2 = 0, ab = 0;
				for (int k = 0; k < D; k++) {
					double x = s->emb[l][qi * D + k], y = s->emb[l][j * D + k];
					a2 += x * x, b2 += y * y, ab += x * y;
				}
				tot += 2 - 2 * ab / sqrt(a2 * b2); /* levels: unit vectors per level */
				dotv += ab, nq += a2, nj += b2;
			}
			double cosv = dotv / sqrt(nq * nj);
			d[j] = metric_kind == KNN_LEVELS ? tot : metric_kind == KNN_COSINE ? 1 - cosv
											 : fmax(0, 2 - 2 * cosv);
			ord[j] = (int32_t)j;
		}
		/* selection of the k smallest by (d, idx), self excluded */
		uint32_t cnt = 0;
		for (uint32_t r = 0; r < g->q[q].count; r++) {
			int32_t best = -1;
			for (uint64_t j = 0; j < n; j++) {
				if (j == qi || ord[j] < 0)
					continue;
				if (best < 0 || d[j] < d[best])
					best = (int32_t)j;
			}
			const avg_neighbour *nb = &g->nb[q * g->k + r];
			/* rounding may swap neighbours whose distances differ by less than tol */
			if (nb->id != 1000 + best && fabs(d[nb->id - 1000] - d[best]) > tol)
				bad = 1;
			if (fabs(nb->dist - d[nb->id - 1000]) > tol)
				bad = 1;
			ord[nb->id - 1000] = -1;
			cnt++;
		}
		if (g->q[q].count != (g->k < n - 1 ? g->k : n - 1))
			bad = 1;
	}
	free(d);
	free(ord);
	return !bad;
}

TEST(graph_l2_matches_brute_force)
{
	ave_set s;
	make_set(&s, 150, 1, 24, 7, 11);
	graph g;
	knn_metric m = {.kind = KNN_L2};
	CHECK(run_graph(&s, &s, m, 10, 1, 32, 0, s.n, &g) == 0);
	int ok = brute_check(&s, &g, KNN_L2, 2e-6) && g.order_errors == 0 && g.emitted == s.n;
	free_graph(&g);
	free_set(&s);
	CHECK(ok); /* tolerance: float fma chain of 24 terms vs double, distances ~1 */
}

TEST(graph_levels_and_cosine_match_brute_force)
{
	ave_set s;
	make_set(&s, 90, 3, 16, 5, 12);
	graph g, h;
	knn_metric m = {.kind = KNN_LEVELS}, c = {.kind = KNN_COSINE};
	CHECK(run_graph(&s, &s, m, 7, 2, 16, 0, s.n, &g) == 0);
	CHECK(run_graph(&s, &s, c, 7, 2, 16, 0, s.n, &h) == 0);
	int ok = brute_check(&s, &g, KNN_LEVELS, 1e-5) && brute_check(&s, &h, KNN_COSINE, 1e-5);
	free_graph(&g);
	free_graph(&h);
	free_set(&s);
	CHECK(ok);
}

TEST(graph_identical_across_tiles_threads_and_shards)
{
	ave_set s;
	make_set(&s, 203, 3, 20, 9, 13);
	knn_metric ms[] = {{.kind = KNN_L2}, {.kind = KNN_LEVELS}, {.kind = KNN_LEVEL, .level = 1}, {.kind = KNN_COSINE}};
	for (int mi = 0; mi < 4; mi++) {
		graph ref, g;
		CHECK(run_graph(&s, &s, ms[mi], 12, 1, 1000, 0, s.n, &ref) == 0); /* one piece */
		int tiles[] = {1, 7, 64};
		int threads[] = {1, 2, 3};
		for (int t = 0; t < 3; t++) {
			CHECK(run_graph(&s, &s, ms[mi], 12, threads[t], tiles[t], 0, s.n, &g) == 0);
			int ok = same_graph(&ref, &g, 0) && g.order_errors == 0;
			free_graph(&g);
			CHECKF(ok, "metric %d tile %d threads %d", mi, tiles[t], threads[t]);
		}
		/* three shards of 203 queries: [0,67) [67,135) [135,203) */
		uint64_t cut[] = {0, 67, 135, 203};
		for (int p = 0; p < 3; p++) {
			CHECK(run_graph(&s, &s, ms[mi], 12, 2, 16, cut[p], cut[p + 1], &g) == 0);
			int ok = same_graph(&ref, &g, cut[p]) && g.order_errors == 0 && g.emitted == cut[p + 1] - cut[p];
			free_graph(&g);
			CHECKF(ok, "metric %d shard %d", mi, p);
		}
		free_graph(&ref);
	}
	free_set(&s);
}

TEST(graph_separate_gallery_keeps_exact_duplicates)
{
	/* Gallery = a copy of the queries: no self exclusion, so each query's first neighbour is its copy (d = 0). */
	ave_set q, gal;
	make_set(&q, 40, 1, 8, 4, 21);
	make_set(&gal, 40, 1, 8, 4, 21);
	graph g;
	knn_metric m = {.kind = KNN_L2};
	CHECK(run_graph(&q, &gal, m, 5, 2, 8, 0, q.n, &g) == 0);
	int ok = 1;
	for (uint64_t i = 0; i < q.n; i++)
		ok &= g.nb[i * 5].id == q.id[i] && g.nb[i * 5].dist == 0.0f && g.q[i].n_relevant == 10 && g.q[i].count == 5;
	free_graph(&g);
	free_set(&q);
	free_set(&gal);
	CHECK(ok);
}

TEST(graph_ties_by_ascending_gallery_index_and_self_excluded)
{
	/* 2-d items: 0 (1,0), 1 (0,1), 2 (1,0), 3 (0,1), 4 (1,0). Query 0: 2 and 4 at distance 0 (tied: index order),
	 * then 1 and 3 at squared distance 2 (tied). Query 2: 0, 4, 1, 3. Labels: 0 0 1 1 0 -> n_relevant of query 0 = 2. */
	ave_set s;
	make_set(&s, 5, 1, 2, 2, 1);
	float e[] = {1, 0, 0, 1, 1, 0, 0, 1, 1, 0};
	int32_t lab[] = {0, 0, 1, 1, 0};
	memcpy(s.emb[0], e, sizeof e);
	memcpy(s.label, lab, sizeof lab);
	for (int tile = 1; tile <= 5; tile++) {
		graph g;
		knn_metric m = {.kind = KNN_L2};
		CHECK(run_graph(&s, &s, m, 10, 1, tile, 0, 5, &g) == 0);
		int64_t want0[] = {1002, 1004, 1001, 1003}, want2[] = {1000, 1004, 1001, 1003};
		int ok = g.q[0].count == 4 && g.q[0].n_relevant == 2 && g.q[2].n_relevant == 1;
		for (int j = 0; j < 4; j++)
			ok &= g.nb[0 * 10 + j].id == want0[j] && g.nb[2 * 10 + j].id == want2[j];
		ok &= g.nb[0].dist == 0.0f && g.nb[2].dist == 2.0f;
		free_graph(&g);
		CHECKF(ok, "tile %d", tile);
	}
	free_set(&s);
}

TEST(graph_rejects_mismatched_sets_and_bad_metric)
{
	ave_set a, b;
	make_set(&a, 4, 1, 8, 2, 1);
	make_set(&b, 4, 1, 9, 2, 1);
	char err[256] = "";
	knn_opts o = {.query = &a, .gallery = &b, .metric = {.kind = KNN_L2}, .k = 2, .threads = 1, .tile = 4,
		      .q_end = 4, .quiet = 1};
	int r1 = knn_check(&o, err, sizeof err);
	int dim_msg = strstr(err, "dimension") != NULL;
	o.gallery = &a;
	o.metric.kind = KNN_LEVEL, o.metric.level = 3;
	int r2 = knn_check(&o, err, sizeof err);
	o.metric.kind = KNN_AVSL;
	int r3 = knn_check(&o, err, sizeof err);
	knn_metric m;
	const char *why;
	int p1 = knn_metric_parse("level:2", &m, &why) == 0 && m.kind == KNN_LEVEL && m.level == 2;
	int p2 = knn_metric_parse("euclid", &m, &why) == -1 && knn_metric_parse("level:x", &m, &why) == -1;
	free_set(&a);
	free_set(&b);
	CHECK(r1 == -1 && dim_msg);
	CHECK(r2 == -1 && r3 == -1);
	CHECK(p1 && p2);
}

TEST(default_k_and_relevant_counts)
{
	ave_set s;
	make_set(&s, 10, 1, 2, 3, 1); /* labels 0 1 2 0 1 2 0 1 2 0: class 0 has 4 items */
	uint32_t rel[10];
	knn_relevant_counts(&s, &s, rel);
	uint32_t k = knn_default_k(&s, &s);
	free_set(&s);
	CHECK(rel[0] == 3 && rel[1] == 2 && rel[9] == 3);
	CHECK(k == 100);
}

/* The AVSL metric: the graph's top-k equals a brute-force sort of avsl_dist_tile_naive (the plain reference of the
 * kernel), on a small random set with a random collector. */
TEST(graph_avsl_matches_brute_force_over_naive_distance)
{
	enum { N = 45, L = 3, D = 16, K = 6 };
	ave_set s;
	make_set(&s, N, L, D, 5, 31);
	s.h.has_cert = 1;
	for (int l = 0; l < L; l++) {
		s.cert[l] = xmalloc_array(N * D, sizeof(float));
		for (int i = 0; i < N * D; i++)
			s.cert[l][i] = 0.5f * (frand() + 1.0f);
	}
	float link[2][D * D], s_hat[2][D * D], alpha[L][D], beta[L][D];
	for (int t = 0; t < 2; t++) {
		for (int i = 0; i < D * D; i++)
			link[t][i] = frand();
		op_avsl_link_prepare(test_ctx(1), link[t], D, 4, s_hat[t]);
	}
	for (int l = 0; l < L; l++)
		for (int n = 0; n < D; n++)
			alpha[l][n] = 1.0f + 0.5f * frand(), beta[l][n] = 0.3f * frand();
	avsl_collector_view v = {.levels = L, .dim = D, .gamma_p = 10.0f, .p = 2.0f};
	for (int t = 0; t < 2; t++)
		v.s_hat[t] = s_hat[t];
	for (int l = 0; l < L; l++)
		v.alpha[l] = alpha[l], v.beta[l] = beta[l];
	/* brute force: normalised copies, the full matrix from the naive kernel */
	float *x[L], *dm = xmalloc_array(N * N, sizeof(float));
	for (int l = 0; l < L; l++) {
		x[l] = xmalloc_array(N * D, sizeof(float));
		memcpy(x[l], s.emb[l], N * D * sizeof(float));
		op_avsl_normalize_rows(test_ctx(1), x[l], N, D, 2.0f);
	}
	avsl_dist_tile_naive(&v, N, (const float *const *)x, (const float *const *)s.cert, N, (const float *const *)x,
			     (const float *const *)s.cert, dm, N);
	knn_metric m = {.kind = KNN_AVSL, .avsl = &v};
	int ok = 1;
	int tiles[] = {5, 64}, threads[] = {2, 1};
	for (int run = 0; run < 2 && ok; run++) {
		graph g;
		CHECK(run_graph(&s, &s, m, K, threads[run], tiles[run], 0, N, &g) == 0);
		for (int q = 0; q < N && ok; q++) {
			uint8_t used[N] = {0};
			ok &= g.q[q].count == K;
			for (int r = 0; r < K && ok; r++) {
				int best = -1;
				for (int j = 0; j < N; j++)
					if (j != q && !used[j] && (best < 0 || dm[q * N + j] < dm[q * N + best]))
						best = j;
				int got = (int)(g.nb[q * K + r].id - 1000);
				/* fast kernel vs naive: different summation order; tolerance for float32 sums of ~50 terms */
				double tol = 1e-5 * (1 + fabs(dm[q * N + best]));
				ok &= got != q && (got == best || fabs(dm[q * N + got] - dm[q * N + best]) <= tol);
				ok &= fabs(g.nb[q * K + r].dist - dm[q * N + got]) <= tol;
				used[got] = 1;
			}
		}
		free_graph(&g);
	}
	for (int l = 0; l < L; l++)
		free(x[l]), free(s.cert[l]);
	free(dm);
	free_set(&s);
	CHECK(ok);
}

int main(void)
{
	RUN(topk_keeps_k_smallest_with_index_ties);
	RUN(topk_result_independent_of_offer_order);
	RUN(dot_tile_matches_naive_bit_for_bit);
	RUN(graph_l2_matches_brute_force);
	RUN(graph_levels_and_cosine_match_brute_force);
	RUN(graph_identical_across_tiles_threads_and_shards);
	RUN(graph_separate_gallery_keeps_exact_duplicates);
	RUN(graph_ties_by_ascending_gallery_index_and_self_excluded);
	RUN(graph_rejects_mismatched_sets_and_bad_metric);
	RUN(default_k_and_relevant_counts);
	RUN(graph_avsl_matches_brute_force_over_naive_distance);
	return harness_finish();
}
