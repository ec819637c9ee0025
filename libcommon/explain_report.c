/* explain_report.c: the decomposition as text or JSON, the pair picture and the retrieval board (see explain.h). */
#include "explain.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { TOP_PATH_TARGETS = 3 };

static void json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

void explain_report(FILE *fp, const explain_model *em, const explain_decomp *d, const explain_report_opts *o,
		    int json)
{
	const int L = d->L, D = d->D;
	int top = o->top < D ? o->top : D;
	int *idx = xmalloc_array((size_t)(top > TOP_PATH_TARGETS ? top : TOP_PATH_TARGETS), sizeof(int));
	int nt = explain_top(d->h[L - 1], D, TOP_PATH_TARGETS, idx);
	int *tg = xmalloc_array((size_t)TOP_PATH_TARGETS, sizeof(int));
	memcpy(tg, idx, (size_t)nt * sizeof(int));
	int per = o->paths_per > 0 ? o->paths_per : 0;
	explain_path *paths = xmalloc_array((size_t)(nt * per + 1), sizeof *paths);
	int np = explain_paths(&em->view, d, tg, nt, per, paths);

	if (json) {
		fprintf(fp, "{\"a\":");
		json_str(fp, o->name_a);
		fprintf(fp, ",\"label_a\":%d,\"b\":", o->label_a);
		json_str(fp, o->name_b);
		fprintf(fp, ",\"label_b\":%d,\"d_f\":%.9g,\"sum_h\":%.9g,", o->label_b, d->df, d->sum_h);
		if (!isnan(o->graph_dist))
			fprintf(fp, "\"graph_dist\":%.9g,", o->graph_dist);
		fprintf(fp, "\"levels\":[");
		for (int l = 0; l < L; l++) {
			fprintf(fp, "%s{\"level\":%d,\"d\":%.9g,\"source\":%.9g,\"top\":[", l ? "," : "", l, d->d[l],
				d->src[l]);
			int k = explain_top(d->h[l], D, top, idx);
			for (int i = 0; i < k; i++) {
				int n = idx[i];
				fprintf(fp,
					"%s{\"dim\":%d,\"h\":%.9g,\"delta\":%.9g,\"t\":%.9g,\"pi\":%.9g,\"u_a\":%.9g,"
					"\"u_b\":%.9g,\"reach\":%.9g}",
					i ? "," : "", n, d->h[l][n], d->delta[l][n], d->t[l][n], d->pi[l][n], d->ua[l][n],
					d->ub[l][n], d->w[l][n]);
			}
			fprintf(fp, "]}");
		}
		fprintf(fp, "],\"paths\":[");
		for (int i = 0; i < np; i++)
			fprintf(fp, "%s{\"dims\":[%d,%d,%d],\"flow\":%.9g}", i ? "," : "", paths[i].dim[0], paths[i].dim[1],
				paths[i].dim[2], paths[i].flow);
		fprintf(fp, "]}\n");
	} else {
		fprintf(fp, "a: %s", o->name_a);
		if (o->label_a >= 0)
			fprintf(fp, " (label %d)", o->label_a);
		fprintf(fp, "\nb: %s", o->name_b);
		if (o->label_b >= 0)
			fprintf(fp, " (label %d)", o->label_b);
		fprintf(fp, "\nd_f = %.6f   (sum over n of H_%d[n] = %.6f)\n", d->df, L - 1, d->sum_h);
		if (!isnan(o->graph_dist))
			fprintf(fp, "graph distance = %.6f   (as stored by avsl-graph)\n", o->graph_dist);
		fprintf(fp, "H_l = pi * Delta + (1 - pi) * T per attribute (dim); T = links S_hat applied to H_(l-1); pi = gate\n"
			    "of the certainties u_a, u_b; reach = weight of the attribute's own Delta in d_f\n");
		fprintf(fp, "sources of d_f by level:");
		for (int l = 0; l < L; l++)
			fprintf(fp, "  level %d %.6f", l, d->src[l]);
		fprintf(fp, "\n");
		for (int l = 0; l < L; l++) {
			double hs = 0;
			for (int n = 0; n < D; n++)
				hs += d->h[l][n];
			fprintf(fp, "\nlevel %d   d_%d = %.6f   (H_%d sums to %.6f)\n", l, l, d->d[l], l, hs);
			fprintf(fp, "  %4s %5s %10s %10s %10s %8s %9s %9s %8s\n", "rank", "dim", "H", "Delta", "T", "pi",
				"u_a", "u_b", "reach");
			int k = explain_top(d->h[l], D, top, idx);
			for (int i = 0; i < k; i++) {
				int n = idx[i];
				fprintf(fp, "  %4d %5d %10.6f %10.6f %10.6f %8.4f %9.6f %9.6f %8.4f\n", i + 1, n, d->h[l][n],
					d->delta[l][n], d->t[l][n], d->pi[l][n], d->ua[l][n], d->ub[l][n], d->w[l][n]);
			}
		}
		if (np) {
			fprintf(fp, "\nstrongest links (level 0 -> 1 -> 2 through S_hat; the part of d_f flowing along "
				    "each path):\n");
			for (int i = 0; i < np; i++)
				fprintf(fp, "  %5d -> %5d -> %5d   %.6g\n", paths[i].dim[0], paths[i].dim[1],
					paths[i].dim[2], paths[i].flow);
		}
	}
	free(idx);
	free(tg);
	free(paths);
}

static const uint8_t WHITE[3] = {255, 255, 255}, INK[3] = {20, 20, 28}, SUB[3] = {90, 90, 100};
static const uint8_t GREEN[3] = {24, 160, 60}, RED[3] = {210, 40, 40}, BLUE[3] = {40, 90, 200};

/* Lines of at most width pixels (text scale ts) that s breaks into: every character is kept, none cut. */
static int wrap_lines(const char *s, int width, int ts)
{
	int per = width / (6 * ts) > 0 ? width / (6 * ts) : 1, n = (int)strlen(s);
	return n ? (n + per - 1) / per : 1;
}

/* s in lines of 10 * ts pixels (wrap_lines of them) */
static void text_wrapped(canvas *cv, int x, int y, int width, int ts, const uint8_t rgb[3], const char *s)
{
	int per = width / (6 * ts) > 0 ? width / (6 * ts) : 1, n = (int)strlen(s);
	char buf[256];
	for (int i = 0, line = 0; i < n; i += per, line++) {
		int k = n - i < per ? n - i : per;
		k = k < (int)sizeof buf - 1 ? k : (int)sizeof buf - 1;
		memcpy(buf, s + i, (size_t)k);
		buf[k] = 0;
		canvas_text(cv, x, y + line * 10 * ts, ts, rgb, buf);
	}
}

enum { BAR_W = 10, BAR_TEXT = 6 * 9 }; /* colour bar and room for a "%.3g" number beside it */

/* A vertical colour bar of height h at (x, y) for values lo (bottom) .. hi (top), with the numbers (text scale ts)
 * at the top, middle and bottom beside it. */
static void colour_bar(canvas *cv, int x, int y, int h, int ts, float lo, float hi)
{
	for (int j = 0; j < h; j++) {
		uint8_t c[3];
		explain_colormap(1.0f - (float)j / (float)(h > 1 ? h - 1 : 1), c);
		canvas_rect(cv, x, y + j, BAR_W, 1, c);
	}
	char t[32];
	const float v[3] = {hi, 0.5f * (lo + hi), lo};
	const int ty[3] = {y, y + h / 2 - 7 * ts / 2, y + h - 7 * ts};
	for (int i = 0; i < 3; i++) {
		snprintf(t, sizeof t, "%.3g", v[i]);
		canvas_text(cv, x + BAR_W + 3, ty[i], ts, INK, t);
	}
}

int explain_pair_tile(int S, int tile)
{
	if (tile > 0)
		return tile;
	/* auto: the image at its own size (or a whole multiple of it up to 112 px), never scaled down */
	return S >= 112 ? S : S * ((112 + S - 1) / S);
}

void explain_pair_png(const explain_model *em, const image_u8 *disp_a, const image_u8 *disp_b, const explain_feats *fa,
		      const explain_feats *fb, const explain_decomp *d, const explain_report_opts *o, int per_level,
		      int tile, const char *path, out_set *set)
{
	tile = explain_pair_tile(em->S, tile);
	const int ts = tile >= 200 ? 2 : 1; /* small text twice as large beside large panels */
	const int L = d->L, D = d->D, pad = 8, lab = 2 * 7 + 8;
	if (per_level > D)
		per_level = D;
	int rows = L * per_level + 1; /* + the similarity-evidence map row */
	char line[320];
	snprintf(line, sizeof line, "A %s", o->name_a);
	int na = wrap_lines(line, tile + pad, ts);
	snprintf(line, sizeof line, "B %s", o->name_b);
	int nb = wrap_lines(line, tile + pad, ts);
	const int names = (na > nb ? na : nb) * 10 * ts;
	const int head = 2 * 7 + 6 + names + pad;
	int W = 2 * tile + 3 * pad + BAR_W + BAR_TEXT * ts, Hc = head + tile + pad + rows * (lab + tile + pad) + pad;
	const int bar_x = 2 * tile + 3 * pad - 4;
	int scale = 1;
	snprintf(line, sizeof line, "D_F %.4g", d->df);
	if (canvas_text_width(2, line) + 2 * pad <= W)
		scale = 2;
	canvas cv;
	canvas_init(&cv, W, Hc, WHITE);
	canvas_text(&cv, pad, pad, scale, INK, line);
	snprintf(line, sizeof line, "A %s", o->name_a);
	text_wrapped(&cv, pad, pad + 7 * scale + 6, tile + pad, ts, SUB, line);
	snprintf(line, sizeof line, "B %s", o->name_b);
	text_wrapped(&cv, tile + 2 * pad, pad + 7 * scale + 6, tile + pad, ts, SUB, line);
	/* the images themselves first, as the network sees them */
	canvas_image(&cv, pad, head, tile, tile, disp_a);
	canvas_image(&cv, tile + 2 * pad, head, tile, tile, disp_b);
	int *idx = xmalloc_array((size_t)per_level, sizeof(int));
	int y = head + tile + pad;
	for (int l = 0; l < L; l++) {
		int HW = fa->H[l] * fa->W[l];
		float *ha = xmalloc_array((size_t)HW, sizeof(float)), *hb = xmalloc_array((size_t)HW, sizeof(float));
		int k = explain_top(d->h[l], D, per_level, idx);
		for (int i = 0; i < k; i++) {
			int n = idx[i];
			const float *A = fa->cam[l] + (size_t)n * HW, *B = fb->cam[l] + (size_t)n * HW;
			float mn = INFINITY, mx = -INFINITY;
			for (int j = 0; j < HW; j++) {
				mn = fminf(mn, fminf(A[j], B[j]));
				mx = fmaxf(mx, fmaxf(A[j], B[j]));
			}
			float r = mx > mn ? mx - mn : 1.0f;
			for (int j = 0; j < HW; j++) {
				ha[j] = (A[j] - mn) / r;
				hb[j] = (B[j] - mn) / r;
			}
			/* "L<level> #<dim>" large, then H and the gate small */
			snprintf(line, sizeof line, "L%d #%d", l, n);
			int tw = canvas_text(&cv, pad, y + (lab - 14) / 2, 2, INK, line);
			snprintf(line, sizeof line, "H %.3g PI %.2f", d->h[l][n], d->pi[l][n]);
			canvas_text(&cv, pad + tw + 8, y + (lab - 14) / 2 + (ts == 1 ? 7 : 0), ts, SUB, line);
			canvas_heat(&cv, pad, y + lab, tile, tile, disp_a, ha, fa->H[l], fa->W[l], 0.55f);
			canvas_heat(&cv, tile + 2 * pad, y + lab, tile, tile, disp_b, hb, fb->H[l], fb->W[l], 0.55f);
			colour_bar(&cv, bar_x, y + lab, tile, ts, mn, mx > mn ? mx : mn + 1.0f);
			y += lab + tile + pad;
		}
		free(ha);
		free(hb);
	}
	/* last row: the attribution map used by the faithfulness score (explain_map_avsl, 8 attributes per level),
	 * both maps on one scale 0 .. the larger maximum (the bar's numbers) */
	{
		enum { MAP_K = 8 };
		int S = em->S;
		float *e = xmalloc_array((size_t)L * D, sizeof(float));
		float *ma = xmalloc_array((size_t)S * S, sizeof(float)), *mb = xmalloc_array((size_t)S * S, sizeof(float));
		explain_evidence(d, fa, fb, e);
		explain_map_avsl(em, fa, e, MAP_K, ma);
		explain_map_avsl(em, fb, e, MAP_K, mb);
		float mx = 0;
		for (int j = 0; j < S * S; j++)
			mx = fmaxf(mx, fmaxf(ma[j], mb[j]));
		for (int j = 0; j < S * S; j++) {
			ma[j] = mx > 0 ? ma[j] / mx : 0;
			mb[j] = mx > 0 ? mb[j] / mx : 0;
		}
		snprintf(line, sizeof line, "SIMILARITY EVIDENCE");
		int s = canvas_text_width(2, line) + 2 * pad <= W ? 2 : 1;
		canvas_text(&cv, pad, y + (lab - 7 * s) / 2, s, INK, line);
		canvas_heat(&cv, pad, y + lab, tile, tile, disp_a, ma, S, S, 0.55f);
		canvas_heat(&cv, tile + 2 * pad, y + lab, tile, tile, disp_b, mb, S, S, 0.55f);
		colour_bar(&cv, bar_x, y + lab, tile, ts, 0.0f, mx > 0 ? mx : 1.0f);
		free(e), free(ma), free(mb);
	}
	free(idx);
	canvas_write_png(&cv, path, set);
	canvas_free(&cv);
}

void explain_board_png(const image_u8 *disp, const int64_t *ids, const int32_t *labels, const float *dist, int k,
		       int tile, const char *metric, const char *path)
{
	const int pad = 10, frame = 5, txt = 2, lines = 2 * (7 * txt + 4);
	int n = k + 1, cols = n <= 5 ? n : (n + 1) / 2 > 5 ? 5 : (n + 1) / 2;
	int rows = (n + cols - 1) / cols;
	int cw = tile + 2 * frame, ch = cw + lines;
	int W = cols * cw + (cols + 1) * pad, head = 7 * txt + 2 * pad;
	int Hc = head + rows * (ch + pad);
	canvas cv;
	canvas_init(&cv, W, Hc, WHITE);
	char line[96];
	snprintf(line, sizeof line, "QUERY %lld  K %d  %s", (long long)ids[0], k, metric);
	if (canvas_text_width(txt, line) > W - 2 * pad)
		snprintf(line, sizeof line, "Q %lld K %d", (long long)ids[0], k);
	canvas_text(&cv, pad, pad, txt, INK, line);
	/* One text size for every "ID .. C .." line of the board: the large one only when all of them fit. */
	int s_id = txt;
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof line, "ID %lld C %d", (long long)ids[i], labels[i]);
		if (canvas_text_width(txt, line) > cw)
			s_id = 1;
	}
	for (int i = 0; i < n; i++) {
		int r = i / cols, c = i % cols;
		int x = pad + c * (cw + pad), y = head + r * (ch + pad);
		const uint8_t *fc = i == 0 ? BLUE : (labels[i] == labels[0] ? GREEN : RED);
		canvas_frame(&cv, x, y, cw, cw, frame, fc);
		canvas_image(&cv, x + frame, y + frame, tile, tile, &disp[i]);
		if (i == 0)
			snprintf(line, sizeof line, "QUERY");
		else
			snprintf(line, sizeof line, "%d: %.3f", i, dist[i]);
		int s = canvas_text_width(txt, line) <= cw ? txt : 1;
		canvas_text(&cv, x + (cw - canvas_text_width(s, line)) / 2, y + cw + 4, s, i == 0 ? BLUE : INK, line);
		snprintf(line, sizeof line, "ID %lld C %d", (long long)ids[i], labels[i]);
		canvas_text(&cv, x + (cw - canvas_text_width(s_id, line)) / 2, y + cw + 8 + 7 * txt, s_id, SUB, line);
	}
	canvas_write_png(&cv, path, NULL);
	canvas_free(&cv);
}
