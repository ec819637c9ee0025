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
	return (size_t)round_up(R, MR) * (size_t)D + (size_t)round_up(C, NR) * (size_t)D + 8;
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

static void micro(int D, const float *ap, const float *bp, float *c /* (MR, NR) */)
{
#ifdef DOT_SIMD
	__m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(),
	       c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(),
	       c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps(),
	       c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
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
	_mm256_storeu_ps(c + 0 * NR, c00), _mm256_storeu_ps(c + 0 * NR + 8, c01);
	_mm256_storeu_ps(c + 1 * NR, c10), _mm256_storeu_ps(c + 1 * NR + 8, c11);
	_mm256_storeu_ps(c + 2 * NR, c20), _mm256_storeu_ps(c + 2 * NR + 8, c21);
	_mm256_storeu_ps(c + 3 * NR, c30), _mm256_storeu_ps(c + 3 * NR + 8, c31);
	_mm256_storeu_ps(c + 4 * NR, c40), _mm256_storeu_ps(c + 4 * NR + 8, c41);
	_mm256_storeu_ps(c + 5 * NR, c50), _mm256_storeu_ps(c + 5 * NR + 8, c51);
#else
	for (int i = 0; i < MR * NR; i++)
		c[i] = 0.0f;
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
	float *bp = scratch;                                 /* NR-aligned panels first: 32-byte aligned loads */
	float *ap = scratch + (size_t)round_up(C, NR) * D;
	pack(C, b, ldb, D, NR, bp);
	pack(R, a, lda, D, MR, ap);
	float c[MR * NR];
	for (int j0 = 0; j0 < C; j0 += NR) {
		int nc = C - j0 < NR ? C - j0 : NR;
		for (int i0 = 0; i0 < R; i0 += MR) {
			int nr = R - i0 < MR ? R - i0 : MR;
			micro(D, ap + (size_t)i0 * D, bp + (size_t)j0 * D, c);
			for (int i = 0; i < nr; i++)
				memcpy(out + (i0 + i) * ldo + j0, c + i * NR, (size_t)nc * sizeof(float));
		}
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
