/* Unit tests for libcommon/explain*.c: a hand-computed golden decomposition, the decomposition of a tiny random
 * model (parts sum to d_f, d_f = avsl_dist_tile_naive, the recursion holds, the top attributes are ordered), the
 * attribution maps, the colour map, PNG pictures decoded back, and the faithfulness curves' fixed points. */
#include "test_ctx.h"
#include "cli.h"
#include "explain.h"
#include "harness.h"
#include "rng.h"
#include "util.h"

#include <unistd.h>

/* ---- hand-computed golden (D = 2, three levels) ----------------------------------------------------------------
 * Delta_0 = (1, 1); S_0 = I -> T_1 = (1, 1); Delta_1 = 0, pi_1 = 0.5 -> H_1 = (0.5, 0.5); S_1 = all 0.5 ->
 * T_2 = (0.5, 0.5); Delta_2 = (0.04, 0.04), pi_2 = (0.75, 0.5) -> H_2 = (0.155, 0.27), d_f = 0.425.
 * Reach: w_2 = 1, w_1 = 0.5 * 0.25 + 0.5 * 0.5 = 0.375, w_0 = 0.5 * 0.375 = 0.1875; sources 0.375, 0, 0.05. */
static const float g_s0[4] = {1, 0, 0, 1}, g_s1[4] = {0.5f, 0.5f, 0.5f, 0.5f};
static const float g_one[2] = {1, 1}, g_zero[2] = {0, 0}, g_beta2[2] = {0.10986123f /* ln 3 / 10 */, 0};
static const float g_x0[2] = {1, 0}, g_y0[2] = {0, 1}, g_x1[2] = {1, 0}, g_y1[2] = {1, 0};
static const float g_x2[2] = {0.6f, 0.8f}, g_y2[2] = {0.8f, 0.6f};

static void golden_view(avsl_collector_view *v)
{
	memset(v, 0, sizeof *v);
	v->levels = 3;
	v->dim = 2;
	v->gamma_p = 10;
	v->p = 2;
	v->s_hat[0] = g_s0;
	v->s_hat[1] = g_s1;
	v->alpha[0] = v->alpha[1] = v->alpha[2] = g_one;
	v->beta[0] = v->beta[1] = g_zero;
	v->beta[2] = g_beta2;
}

TEST(golden_decomposition)
{
	avsl_collector_view v;
	golden_view(&v);
	const float *x[3] = {g_x0, g_x1, g_x2}, *y[3] = {g_y0, g_y1, g_y2}, *u[3] = {g_zero, g_zero, g_zero};
	explain_decomp d;
	explain_decompose(&v, x, u, y, u, &d);
	/* tolerance: float32 arithmetic on numbers near 1 (and ln 3 / 10 rounded to float) */
	CHECK_CLOSE(d.df, 0.425, 1e-6, 1e-5);
	CHECK_CLOSE(d.h[2][0], 0.155, 1e-6, 1e-5);
	CHECK_CLOSE(d.h[2][1], 0.27, 1e-6, 1e-5);
	CHECK_CLOSE(d.t[1][0], 1.0, 1e-7, 0);
	CHECK_CLOSE(d.h[1][1], 0.5, 1e-7, 0);
	CHECK_CLOSE(d.pi[2][0], 0.75, 1e-6, 0);
	CHECK_CLOSE(d.w[1][0], 0.375, 1e-6, 0);
	CHECK_CLOSE(d.w[0][1], 0.1875, 1e-6, 0);
	CHECK_CLOSE(d.src[0], 0.375, 1e-6, 0);
	CHECK_CLOSE(d.src[1], 0.0, 1e-7, 0);
	CHECK_CLOSE(d.src[2], 0.05, 1e-6, 0);
	CHECK_CLOSE(d.src[0] + d.src[1] + d.src[2], d.df, 1e-6, 0);
	int top[2];
	CHECK(explain_top(d.h[2], 2, 2, top) == 2 && top[0] == 1 && top[1] == 0);
	/* paths into dim 1: 0->0->1 and 1->1->1, each 1 * 1 * 0.5 * 0.5 * 0.5; together (1 - pi_2) T_2 = 0.25 */
	explain_path p[4];
	int tg = 1;
	int np = explain_paths(&v, &d, &tg, 1, 4, p);
	CHECKF(np == 2, "np %d", np);
	CHECK(p[0].dim[0] == 0 && p[0].dim[1] == 0 && p[0].dim[2] == 1);
	CHECK(p[1].dim[0] == 1 && p[1].dim[1] == 1);
	CHECK_CLOSE(p[0].flow, 0.125, 1e-7, 0);
	CHECK_CLOSE(p[0].flow + p[1].flow, (1 - d.pi[2][1]) * d.t[2][1], 1e-7, 0);
	float out;
	avsl_dist_tile_naive(&v, 1, x, u, 1, y, u, &out, 1);
	CHECK(out == d.df);
	explain_decomp_free(&d);
}

TEST(top_orders_and_breaks_ties_by_index)
{
	const float s[7] = {0.5f, 2.0f, 0.5f, -1.0f, 3.0f, 2.0f, 0.1f};
	int idx[7];
	CHECK(explain_top(s, 7, 4, idx) == 4);
	CHECK(idx[0] == 4 && idx[1] == 1 && idx[2] == 5 && idx[3] == 0);
	CHECK(explain_top(s, 7, 10, idx) == 7 && idx[6] == 3 && idx[4] == 2);
	CHECK(explain_top(s, 3, 1, idx) == 1 && idx[0] == 1);
}


#include "explain_tiny.h"

TEST(forward_matches_model_embed)
{
	CHECK(tiny_model() == 0);
	float x[2 * TS * TS];
	tiny_inputs(x, 1);
	explain_feats f[2];
	explain_forward(&tm, x, 2, 1, f);
	float e[3][2 * TD], u[3][2 * TD];
	float *ep[3] = {e[0], e[1], e[2]}, *up[3] = {u[0], u[1], u[2]};
	model_embed(&tm.m, x, 2, ep, up);
	for (int i = 0; i < 2; i++)
		for (int l = 0; l < 3; l++) {
			/* same ops in the same order: bit equal */
			CHECK(memcmp(f[i].emb[l], e[l] + i * TD, TD * sizeof(float)) == 0);
			CHECK(memcmp(f[i].cert[l], u[l] + i * TD, TD * sizeof(float)) == 0);
			/* method §2.2: the spatial mean of each CAM is the embedding (float32 sums of <= 64 terms) */
			int HW = f[i].H[l] * f[i].W[l];
			for (int n = 0; n < TD; n++) {
				double s = 0;
				for (int j = 0; j < HW; j++)
					s += f[i].cam[l][n * HW + j];
				CHECK_CLOSE(s / HW, f[i].emb[l][n], 1e-4, 1e-4);
			}
		}
	explain_feats_free(&f[0]);
	explain_feats_free(&f[1]);
}

TEST(tiny_model_parts_sum_to_distance)
{
	CHECK(tiny_model() == 0);
	for (uint64_t trial = 0; trial < 3; trial++) {
		float x[2 * TS * TS];
		tiny_inputs(x, 100 + trial);
		explain_feats f[2];
		explain_forward(&tm, x, 2, 0, f);
		explain_decomp d;
		explain_decompose(&tm.view, (const float *const *)f[0].xh, (const float *const *)f[0].cert,
				  (const float *const *)f[1].xh, (const float *const *)f[1].cert, &d);
		CHECK(d.df > 0);
		/* sum of H_2 in double vs the float32 running sum: 16 terms, relative 1e-6 */
		CHECK_CLOSE(d.sum_h, d.df, 1e-7, 1e-5);
		CHECK_CLOSE(d.src[0] + d.src[1] + d.src[2], d.df, 1e-7, 1e-5);
		/* same value as the reference kernel (the decomposition follows its order exactly) */
		float ref, fast;
		avsl_dist_tile_naive(&tm.view, 1, (const float *const *)f[0].xh, (const float *const *)f[0].cert, 1,
				     (const float *const *)f[1].xh, (const float *const *)f[1].cert, &ref, 1);
		CHECKF(ref == d.df, "naive %.9g decomposition %.9g", ref, d.df);
		op_avsl_dist_tile(test_ctx(1), &tm.view, 1, (const float *const *)f[0].xh,
				  (const float *const *)f[0].cert, 1, (const float *const *)f[1].xh,
				  (const float *const *)f[1].cert, &fast, 1);
		CHECK_CLOSE(fast, d.df, 1e-7, 1e-5);
		for (int l = 1; l < 3; l++)
			for (int n = 0; n < TD; n++) {
				double t = 0;
				for (int m = 0; m < TD; m++)
					t += (double)d.h[l - 1][m] * tm.view.s_hat[l - 1][m * TD + n];
				CHECK_CLOSE(d.t[l][n], t, 1e-7, 1e-5);
				CHECK_CLOSE(d.h[l][n], d.pi[l][n] * d.delta[l][n] + (1 - d.pi[l][n]) * d.t[l][n], 1e-7, 1e-5);
				CHECK(d.pi[l][n] > 0 && d.pi[l][n] < 1);
			}
		int top[5];
		int k = explain_top(d.h[2], TD, 5, top);
		CHECK(k == 5);
		for (int i = 0; i + 1 < k; i++)
			CHECK(d.h[2][top[i]] >= d.h[2][top[i + 1]]);
		for (int n = 0; n < TD; n++)
			CHECK(d.h[2][n] <= d.h[2][top[0]]);
		/* paths: the two strongest equal a brute-force search; all of them add up to the part of H_2[n] that
		 * came from level 0: (1 - pi_2[n]) sum_m S_1[m,n] (1 - pi_1[m]) T_1[m] */
		int n = top[0];
		double b1 = -1, b2 = -1, all = 0;
		for (int m = 0; m < TD; m++)
			for (int j = 0; j < TD; j++) {
				double fl = (double)d.delta[0][j] * tm.view.s_hat[0][j * TD + m] * (1 - d.pi[1][m]) *
					   tm.view.s_hat[1][m * TD + n] * (1 - d.pi[2][n]);
				if (fl > b1)
					b2 = b1, b1 = fl;
				else if (fl > b2)
					b2 = fl;
			}
		for (int m = 0; m < TD; m++)
			all += (double)tm.view.s_hat[1][m * TD + n] * (1 - d.pi[1][m]) * d.t[1][m];
		all *= 1 - d.pi[2][n];
		explain_path *p = malloc(sizeof *p * TD * TD);
		CHECK(explain_paths(&tm.view, &d, &n, 1, 2, p) == 2);
		CHECK_CLOSE(p[0].flow, b1, 1e-9, 1e-5);
		CHECK_CLOSE(p[1].flow, b2, 1e-9, 1e-5);
		int np = explain_paths(&tm.view, &d, &n, 1, TD * TD, p);
		double sum = 0;
		for (int i = 0; i < np; i++)
			sum += p[i].flow;
		free(p);
		CHECK_CLOSE(sum, all, 1e-9, 1e-4);
		explain_decomp_free(&d);
		explain_feats_free(&f[0]);
		explain_feats_free(&f[1]);
	}
}

TEST(upsample_values)
{
	const float in[4] = {0, 1, 2, 3};
	float out[16];
	explain_upsample(in, 2, 2, out, 4, 4);
	CHECK_CLOSE(out[0], 0.0, 1e-7, 0);    /* corner clamps to the corner pixel */
	CHECK_CLOSE(out[1], 0.25, 1e-7, 0);   /* x = 1: source 0.25 */
	CHECK_CLOSE(out[5], 0.75, 1e-7, 0);   /* (1, 1): 0.25 * 2 + 0.25 */
	CHECK_CLOSE(out[15], 3.0, 1e-7, 0);
	const float c[1] = {7};
	explain_upsample(c, 1, 1, out, 3, 5);
	for (int i = 0; i < 15; i++)
		CHECK(out[i] == 7.0f);
}

TEST(avsl_map_follows_the_oriented_cam)
{
	explain_model em = {0};
	em.L = 1, em.D = 1, em.S = 4;
	float cam[4] = {0, 0, 0, 1}, xh[1] = {1}, e[1] = {2};
	explain_feats f = {0};
	f.L = 1, f.D = 1, f.H[0] = f.W[0] = 2, f.cam[0] = cam, f.xh[0] = xh;
	float map[16];
	explain_map_avsl(&em, &f, e, 1, map);
	CHECK_CLOSE(map[15], 2.0, 1e-6, 0);   /* L1-normalised CAM (all mass at the corner) times the evidence 2 */
	CHECK_CLOSE(map[0], 0.0, 1e-7, 0);
	xh[0] = -1; /* a negative coordinate: the evidence is where the CAM is LOW */
	explain_map_avsl(&em, &f, e, 1, map);
	CHECK(map[0] > map[15]);
	CHECK_CLOSE(map[15], 0.0, 1e-7, 0);
	e[0] = -1; /* no positive evidence: an empty map */
	explain_map_avsl(&em, &f, e, 1, map);
	for (int i = 0; i < 16; i++)
		CHECK(map[i] == 0.0f);
}

TEST(colormap_endpoints_and_lightness)
{
	uint8_t c[3];
	explain_colormap(0.0f, c);
	CHECK(c[0] == 0 && c[1] == 0 && c[2] == 8);
	explain_colormap(1.0f, c);
	CHECK(c[0] == 252 && c[1] == 246 && c[2] == 176);
	explain_colormap(2.0f, c);
	CHECK(c[0] == 252);
	explain_colormap(NAN, c);
	CHECK(c[0] == 0 && c[2] == 8);
	explain_colormap(0.5f, c);
	CHECK(c[0] == 190 && c[1] == 48 && c[2] == 92);
	double prev = -1;
	for (int i = 0; i <= 200; i++) {
		explain_colormap(i / 200.0f, c);
		double luma = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
		CHECKF(luma > prev, "t %.3f luma %.2f after %.2f", i / 200.0, luma, prev);
		prev = luma;
	}
}

static int decode_png(const char *path, image_u8 *im)
{
	size_t len;
	unsigned char *buf = read_whole_file(path, &len);
	char why[64];
	int r = image_decode(buf, len, 3, im, why, sizeof why);
	free(buf);
	return r;
}

static const uint8_t *px(const image_u8 *im, int x, int y) { return im->px + ((size_t)y * im->w + x) * 3; }

TEST(canvas_png_roundtrip)
{
	char path[] = "/tmp/test_explain_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	const uint8_t white[3] = {255, 255, 255}, red[3] = {200, 10, 20}, ink[3] = {0, 0, 0};
	canvas cv;
	canvas_init(&cv, 20, 10, white);
	canvas_rect(&cv, 2, 3, 4, 2, red);
	CHECK(canvas_text(&cv, 12, 1, 1, ink, "1") == 5);
	canvas_write_png(&cv, path, NULL);
	canvas_free(&cv);
	image_u8 im;
	CHECK(decode_png(path, &im) == 0);
	unlink(path);
	CHECK(im.w == 20 && im.h == 10);
	CHECK(memcmp(px(&im, 2, 3), red, 3) == 0 && memcmp(px(&im, 5, 4), red, 3) == 0);
	CHECK(memcmp(px(&im, 6, 4), white, 3) == 0 && memcmp(px(&im, 2, 5), white, 3) == 0);
	/* glyph '1': row 0 = 0x04 -> column 2 set; row 6 = 0x0E -> columns 1..3 */
	CHECK(memcmp(px(&im, 14, 1), ink, 3) == 0 && memcmp(px(&im, 13, 1), white, 3) == 0);
	CHECK(memcmp(px(&im, 13, 7), ink, 3) == 0 && memcmp(px(&im, 15, 7), ink, 3) == 0);
	image_free(&im);
}

TEST(board_png_layout_and_frames)
{
	char path[] = "/tmp/test_explain_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	image_u8 disp[3];
	for (int i = 0; i < 3; i++) {
		disp[i].h = disp[i].w = 4;
		disp[i].c = 1;
		disp[i].px = malloc(16);
		memset(disp[i].px, 60 * i, 16);
	}
	int64_t ids[3] = {7, 3, 9};
	int32_t labels[3] = {1, 1, 2};
	float dist[3] = {0, 0.25f, 0.5f};
	explain_board_png(disp, ids, labels, dist, 2, 32, "avsl", path);
	image_u8 im;
	CHECK(decode_png(path, &im) == 0);
	unlink(path);
	/* 3 columns of (32 + 2 * 5) px with 10 px gaps; a title of 2 * 7 + 20 px, one row of 42 + 36 text + 10 */
	CHECKF(im.w == 166 && im.h == 122, "%dx%d", im.w, im.h);
	const uint8_t green[3] = {24, 160, 60}, red[3] = {210, 40, 40}, blue[3] = {40, 90, 200};
	CHECK(memcmp(px(&im, 10, 34), blue, 3) == 0);
	CHECK(memcmp(px(&im, 62, 34), green, 3) == 0);   /* same class as the query */
	CHECK(memcmp(px(&im, 114, 34), red, 3) == 0);    /* another class */
	CHECK(px(&im, 62 + 5 + 16, 34 + 5 + 16)[0] == 60);  /* the neighbour's pixels, nearest-neighbour upscaled */
	CHECK(px(&im, 114 + 5 + 16, 34 + 5 + 16)[1] == 120);
	image_free(&im);
	for (int i = 0; i < 3; i++)
		free(disp[i].px);
}

/* The pair picture of the tiny model's random pair `stream`, decoded into im. Returns 0, or -1 when it cannot be
 * written or decoded. */
static int draw_pair(uint64_t stream, const char *name_a, int per_level, int tile, image_u8 *im)
{
	char path[] = "/tmp/test_explain_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	float x[2 * TS * TS];
	tiny_inputs(x, stream);
	explain_feats f[2];
	explain_forward(&tm, x, 2, 1, f);
	explain_decomp d;
	explain_decompose(&tm.view, (const float *const *)f[0].xh, (const float *const *)f[0].cert,
			  (const float *const *)f[1].xh, (const float *const *)f[1].cert, &d);
	image_u8 da, db;
	explain_tensor_image(&tm, x, &da);
	explain_tensor_image(&tm, x + TS * TS, &db);
	explain_report_opts ro = {name_a, "b", -1, -1, 5, 3, NAN};
	explain_pair_png(&tm, &da, &db, &f[0], &f[1], &d, &ro, per_level, tile, path, NULL);
	int r = decode_png(path, im);
	unlink(path);
	image_free(&da);
	image_free(&db);
	explain_decomp_free(&d);
	explain_feats_free(&f[0]);
	explain_feats_free(&f[1]);
	return r;
}

TEST(pair_png_dimensions)
{
	CHECK(tiny_model() == 0);
	float x[2 * TS * TS];
	tiny_inputs(x, 5);
	image_u8 da;
	explain_tensor_image(&tm, x, &da);
	CHECK(da.w == TS && da.c == 1);
	/* round trip of the display image: x * std + mean, x = (v - 0.25) / 0.5 */
	CHECK(da.px[0] == (uint8_t)lrintf(fminf(fmaxf((x[0] * 0.5f + 0.25f) * 255.0f, 0), 255)));
	image_free(&da);
	image_u8 im;
	CHECK(draw_pair(5, "a", 2, 40, &im) == 0);
	/* width 2 tiles + 3 pads + colour bar 10 + its numbers 54; height: title 20 + one name line 10 + pad 8, image
	 * row 48, 6 + 1 rows of (22 + 40 + 8), bottom pad 8 */
	CHECKF(im.w == 2 * 40 + 24 + 64 && im.h == 38 + 48 + 7 * 70 + 8, "%dx%d", im.w, im.h);
	/* the colour bar of the first attribute row (x = 2 * 40 + 20, from y = 38 + 48 + 22) and its top number */
	int bx = 2 * 40 + 20, by = 38 + 48 + 22, ink = 0;
	CHECK(!(px(&im, bx + 2, by)[0] == 255 && px(&im, bx + 2, by)[1] == 255 && px(&im, bx + 2, by)[2] == 255));
	for (int yy = by; yy < by + 7; yy++)
		for (int xx = bx + 13; xx < bx + 40; xx++)
			ink += px(&im, xx, yy)[0] < 128;
	CHECKF(ink > 5, "ink %d", ink);
	image_free(&im);
}

TEST(pair_png_names_in_full_and_auto_tile)
{
	CHECK(explain_pair_tile(224, 0) == 224 && explain_pair_tile(28, 0) == 112 && explain_pair_tile(16, 0) == 112);
	CHECK(explain_pair_tile(300, 0) == 300 && explain_pair_tile(28, 50) == 50);
	CHECK(tiny_model() == 0);
	image_u8 im;
	/* "A " + a 40-character name in a 120 px column (20 characters a line at scale 1): 3 lines, nothing cut */
	CHECK(draw_pair(6, "images/birds/0123456789-abcdefghijkl.png", 1, 0, &im) == 0);
	/* auto tile 112 for 16 px; head 20 + 3 name lines of 10 + 8; 3 + 1 rows of (22 + 112 + 8) */
	CHECKF(im.w == 2 * 112 + 24 + 64 && im.h == 58 + 120 + 4 * 142 + 8, "%dx%d", im.w, im.h);
	image_free(&im);
}

int main(void)
{
	RUN(golden_decomposition);
	RUN(top_orders_and_breaks_ties_by_index);
	RUN(forward_matches_model_embed);
	RUN(tiny_model_parts_sum_to_distance);
	RUN(upsample_values);
	RUN(avsl_map_follows_the_oriented_cam);
	RUN(colormap_endpoints_and_lightness);
	RUN(canvas_png_roundtrip);
	RUN(board_png_layout_and_frames);
	RUN(pair_png_dimensions);
	RUN(pair_png_names_in_full_and_auto_tile);
	tiny_model_free();
	return harness_finish();
}
