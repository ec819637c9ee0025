/* dot_tile.c: op_dot_tile on the CPU (ops.h). A 6x16 register-blocked kernel (AVX2+FMA) over packed panels, scalar
 * fmaf otherwise; the context's threads share the column panels of one tile.
 *
 * Packing: a -> panels of MR rows, k-major (panel[k * MR + i]); b -> panels of NR columns, k-major. Padding rows and
 * columns are zero and their results are dropped. Each accumulator lane holds one output element and sees the same
 * fma sequence as dot_tile_naive, so the two agree bit for bit (fmaf and vfmadd both round once), and so does every
 * split of the work: a thread owns whole column panels, never part of a chain. One barrier per tile (after the
 * packing), so a busy machine's preemptions cost little. BLAS gives no such promise
 * (blocking and small-matrix paths change the summation order), which is why the k-NN graphs do not use it.
 */
#include <math.h>
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DOT_SIMD 1
#endif

enum { MR = 6, NR = 16, KC = 128 };

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* Panel i0 of x (n, D): its w rows i0.. k-major at p + i0 * D, rows past n zero. sq (may be NULL): the squared
 * norms of the panel's rows at sq[i0..], each the fma chain a dot product of the row with itself runs (w
 * independent chains side by side, so they vectorise and pipeline). */
static void pack_panel(int n, const float *x, int64_t ld, int D, int w, int i0, float *p, float *sq)
{
	float *panel = p + (size_t)i0 * D;
	int m = n - i0 < w ? n - i0 : w;
	for (int i = 0; i < m; i++) {
		const float *row = x + (int64_t)(i0 + i) * ld;
		for (int k = 0; k < D; k++)
			panel[(size_t)k * w + i] = row[k];
	}
	for (int i = m; i < w; i++)
		for (int k = 0; k < D; k++)
			panel[(size_t)k * w + i] = 0.0f;
	if (!sq)
		return;
	float acc[NR] = {0};
	for (int k = 0; k < D; k++)
		for (int i = 0; i < w; i++)
			acc[i] = fmaf(panel[(size_t)k * w + i], panel[(size_t)k * w + i], acc[i]);
	for (int i = 0; i < m; i++)
		sq[i0 + i] = acc[i];
}

/* c (MR, NR) += the next D steps of every chain: c is loaded, continued and stored, which keeps each chain's
 * sequence of roundings exactly that of one uninterrupted loop. */
static void micro(int D, const float *ap, const float *bp, float *c)
{
#ifdef DOT_SIMD
	__m256 c00 = _mm256_load_ps(c + 0), c01 = _mm256_load_ps(c + 8), c10 = _mm256_load_ps(c + 16),
	       c11 = _mm256_load_ps(c + 24), c20 = _mm256_load_ps(c + 32), c21 = _mm256_load_ps(c + 40),
	       c30 = _mm256_load_ps(c + 48), c31 = _mm256_load_ps(c + 56), c40 = _mm256_load_ps(c + 64),
	       c41 = _mm256_load_ps(c + 72), c50 = _mm256_load_ps(c + 80), c51 = _mm256_load_ps(c + 88);
	for (int k = 0; k < D; k++) {
		__m256 b0 = _mm256_load_ps(bp + k * NR), b1 = _mm256_load_ps(bp + k * NR + 8);
		const float *a = ap + k * MR;
		__m256 x;
		x = _mm256_broadcast_ss(a + 0), c00 = _mm256_fmadd_ps(x, b0, c00), c01 = _mm256_fmadd_ps(x, b1, c01);
		x = _mm256_broadcast_ss(a + 1), c10 = _mm256_fmadd_ps(x, b0, c10), c11 = _mm256_fmadd_ps(x, b1, c11);
		x = _mm256_broadcast_ss(a + 2), c20 = _mm256_fmadd_ps(x, b0, c20), c21 = _mm256_fmadd_ps(x, b1, c21);
		x = _mm256_broadcast_ss(a + 3), c30 = _mm256_fmadd_ps(x, b0, c30), c31 = _mm256_fmadd_ps(x, b1, c31);
		x = _mm256_broadcast_ss(a + 4), c40 = _mm256_fmadd_ps(x, b0, c40), c41 = _mm256_fmadd_ps(x, b1, c41);
		x = _mm256_broadcast_ss(a + 5), c50 = _mm256_fmadd_ps(x, b0, c50), c51 = _mm256_fmadd_ps(x, b1, c51);
	}
	_mm256_store_ps(c + 0, c00), _mm256_store_ps(c + 8, c01), _mm256_store_ps(c + 16, c10);
	_mm256_store_ps(c + 24, c11), _mm256_store_ps(c + 32, c20), _mm256_store_ps(c + 40, c21);
	_mm256_store_ps(c + 48, c30), _mm256_store_ps(c + 56, c31), _mm256_store_ps(c + 64, c40);
	_mm256_store_ps(c + 72, c41), _mm256_store_ps(c + 80, c50), _mm256_store_ps(c + 88, c51);
#else
	for (int k = 0; k < D; k++)
		for (int i = 0; i < MR; i++)
			for (int j = 0; j < NR; j++)
				c[i * NR + j] = fmaf(ap[k * MR + i], bp[k * NR + j], c[i * NR + j]);
#endif
}

int cpu_dot_tile(op_ctx *ctx, int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, int mode,
		 float *out, int64_t ldo)
{
	if (R < 0 || C < 0 || D < 0 || lda < D || ldb < D || ldo < C || mode < OP_TILE_DOT || mode > OP_TILE_L2)
		return cpu_fail(ctx, "dot_tile: invalid arguments (R %d, C %d, D %d, lda %lld, ldb %lld, ldo %lld, mode %d)",
				R, C, D, (long long)lda, (long long)ldb, (long long)ldo, mode);
	if (R == 0 || C == 0)
		return 0;
	size_t Rp = round_up((size_t)R, MR), Cp = round_up((size_t)C, NR);
	/* packed b, packed a, the accumulator micro-tiles (MR x NR each), the squared norms: every block starts at a
	 * multiple of 16 floats (aligned loads) */
	size_t nb = Cp * D, na = round_up(Rp * D, 16), nacc = Rp * Cp, nn = round_up((size_t)R + C, 16);
	float *bp = cpu_scratch(ctx, (nb + na + nacc + nn) * sizeof(float));
	if (!bp)
		return -1;
	float *ap = bp + nb, *acc = ap + na, *sq = acc + nacc; /* micro-tile (i0, j) at acc + (j * Rp + i0) * NR */
	int npa = (int)(Rp / MR), npb = (int)(Cp / NR), l2 = mode == OP_TILE_L2;
#pragma omp parallel num_threads(ctx->threads)
	{
#pragma omp for schedule(static) nowait
		for (int i = 0; i < npa; i++)
			pack_panel(R, a, lda, D, MR, i * MR, ap, l2 ? sq : NULL);
#pragma omp for schedule(static)
		for (int j = 0; j < npb; j++)
			pack_panel(C, b, ldb, D, NR, j * NR, bp, l2 ? sq + R : NULL);
		/* Every thread takes whole column panels (dynamic: a thread the machine preempts does not hold the
		 * others up): zero their accumulators, run the chains, write the columns out. Within a panel, k goes
		 * in chunks of KC so the b micro-panel (KC x NR) stays in L1 while the a panels of the chunk stream
		 * from L2. */
#pragma omp for schedule(dynamic, 1)
		for (int j = 0; j < npb; j++) {
			float *cj = acc + (size_t)j * Rp * NR;
			memset(cj, 0, Rp * NR * sizeof *cj);
			for (int k0 = 0; k0 < D; k0 += KC) {
				int kc = D - k0 < KC ? D - k0 : KC;
				for (size_t i0 = 0; i0 < Rp; i0 += MR)
					micro(kc, ap + i0 * D + (size_t)k0 * MR, bp + (size_t)j * NR * D + (size_t)k0 * NR,
					      cj + i0 * NR);
			}
			int j0 = j * NR, nc = C - j0 < NR ? C - j0 : NR;
			for (int r = 0; r < R; r++) {
				float *row = out + (int64_t)r * ldo + j0;
				const float *src = cj + (size_t)r * NR;
				if (mode == OP_TILE_DOT) {
					memcpy(row, src, (size_t)nc * sizeof(float));
				} else if (mode == OP_TILE_COSINE) {
					for (int c = 0; c < nc; c++)
						row[c] = 1.0f - src[c];
				} else {
					for (int c = 0; c < nc; c++) {
						/* one fma, so every path rounds it the same way; clamp the cancellation */
						float v = fmaf(-2.0f, src[c], sq[r] + sq[R + j0 + c]);
						row[c] = v > 0.0f ? v : 0.0f;
					}
				}
			}
		}
	}
	return 0;
}
