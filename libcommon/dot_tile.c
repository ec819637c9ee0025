/* dot_tile.c: see dot_tile.h. A 6x16 register-blocked kernel (AVX2+FMA) over packed panels, scalar fmaf otherwise.
 *
 * Packing: a -> panels of MR rows, k-major (panel[k * MR + i]); b -> panels of NR columns, k-major. Padding rows and
 * columns are zero and their results are dropped. Each accumulator lane holds one output element and sees the same
 * fma sequence as dot_tile_naive, so the two agree bit for bit (fmaf and vfmadd both round once).
 */
#include "dot_tile.h"

#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define DOT_SIMD 1
#endif

enum { MR = 6, NR = 16 };

static int round_up(int x, int m) { return (x + m - 1) / m * m; }

size_t dot_tile_scratch(int R, int C, int D)
{
	/* packed b, packed a, then the accumulator micro-tiles (MR x NR each) */
	return (size_t)round_up(C, NR) * (size_t)D + (size_t)round_up(round_up(R, MR) * D, 16) +
	       (size_t)round_up(R, MR) * (size_t)round_up(C, NR) + 16;
}

static void pack(int n, const float *x, int64_t ld, int D, int w, float *p)
{
	for (int i0 = 0; i0 < n; i0 += w) {
		float *panel = p + (size_t)i0 * D;
		int m = n - i0 < w ? n - i0 : w;
		for (int i = 0; i < m; i++) {
			const float *row = x + (i0 + i) * ld;
			for (int k = 0; k < D; k++)
				panel[(size_t)k * w + i] = row[k];
		}
		for (int i = m; i < w; i++)
			for (int k = 0; k < D; k++)
				panel[(size_t)k * w + i] = 0.0f;
	}
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

void dot_tile(int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, float *out, int64_t ldo,
	      float *scratch)
{
	if (R <= 0 || C <= 0)
		return;
	int Rp = round_up(R, MR), Cp = round_up(C, NR);
	float *bp = scratch; /* every block below starts at a multiple of 16 floats: aligned loads */
	float *ap = bp + (size_t)Cp * D;
	float *acc = ap + (size_t)round_up(Rp * D, 16); /* micro-tile (i0, j0) at acc + (j0 / NR * Rp + i0) * NR */
	pack(C, b, ldb, D, NR, bp);
	pack(R, a, lda, D, MR, ap);
	memset(acc, 0, (size_t)Rp * Cp * sizeof *acc);
	/* k in chunks of KC so a b micro-panel (KC x NR) stays in L1 while the a panels of the chunk stream from L2. */
	enum { KC = 128 };
	for (int k0 = 0; k0 < D; k0 += KC) {
		int kc = D - k0 < KC ? D - k0 : KC;
		for (int j0 = 0; j0 < Cp; j0 += NR)
			for (int i0 = 0; i0 < Rp; i0 += MR)
				micro(kc, ap + (size_t)i0 * D + (size_t)k0 * MR, bp + (size_t)j0 * D + (size_t)k0 * NR,
				      acc + ((size_t)(j0 / NR) * Rp + i0) * NR);
	}
	for (int j0 = 0; j0 < C; j0 += NR) {
		int nc = C - j0 < NR ? C - j0 : NR;
		for (int i = 0; i < R; i++)
			memcpy(out + i * ldo + j0, acc + ((size_t)(j0 / NR) * Rp + i) * NR, (size_t)nc * sizeof(float));
	}
}

void dot_tile_naive(int R, const float *a, int64_t lda, int C, const float *b, int64_t ldb, int D, float *out,
		    int64_t ldo)
{
	for (int r = 0; r < R; r++)
		for (int c = 0; c < C; c++) {
			float acc = 0.0f;
			for (int k = 0; k < D; k++)
				acc = fmaf(a[r * lda + k], b[c * ldb + k], acc);
			out[r * ldo + c] = acc;
		}
}
