/* naive_conv.c: plain convolution loops with double accumulation; the test reference of conv2d.c. */
#include <string.h>

#include "ops.h"

#define XI(n, c, h, w) ((((size_t)(n) * s->C + (c)) * s->H + (h)) * s->W + (w))
#define WI(k, c, r, t) ((((size_t)(k) * s->C + (c)) * s->R + (r)) * s->S + (t))
#define YI(n, k, p, q) ((((size_t)(n) * s->K + (k)) * s->P + (p)) * s->Q + (q))

void conv2d_fwd_naive(const conv_shape *s, const float *x, const float *w, const float *bias, float *y, int flags)
{
	for (int n = 0; n < s->N; n++)
		for (int k = 0; k < s->K; k++)
			for (int p = 0; p < s->P; p++)
				for (int q = 0; q < s->Q; q++) {
					double acc = bias ? bias[k] : 0;
					for (int c = 0; c < s->C; c++)
						for (int r = 0; r < s->R; r++) {
							int h = p * s->stride - s->pad + r;
							if (h < 0 || h >= s->H)
								continue;
							for (int t = 0; t < s->S; t++) {
								int ww = q * s->stride - s->pad + t;
								if (ww < 0 || ww >= s->W)
									continue;
								acc += (double)x[XI(n, c, h, ww)] * w[WI(k, c, r, t)];
							}
						}
					if (flags & OP_ACCUM)
						acc += y[YI(n, k, p, q)];
					if ((flags & OP_RELU) && acc < 0)
						acc = 0;
					y[YI(n, k, p, q)] = (float)acc;
				}
}

void conv2d_bwd_data_naive(const conv_shape *s, const float *dy, const float *w, float *dx, int flags)
{
	for (int n = 0; n < s->N; n++)
		for (int c = 0; c < s->C; c++)
			for (int h = 0; h < s->H; h++)
				for (int ww = 0; ww < s->W; ww++) {
					double acc = (flags & OP_ACCUM) ? dx[XI(n, c, h, ww)] : 0;
					for (int k = 0; k < s->K; k++)
						for (int r = 0; r < s->R; r++) {
							int ph = h + s->pad - r;
							if (ph < 0 || ph % s->stride)
								continue;
							int p = ph / s->stride;
							if (p >= s->P)
								continue;
							for (int t = 0; t < s->S; t++) {
								int qw = ww + s->pad - t;
								if (qw < 0 || qw % s->stride)
									continue;
								int q = qw / s->stride;
								if (q >= s->Q)
									continue;
								acc += (double)dy[YI(n, k, p, q)] * w[WI(k, c, r, t)];
							}
						}
					dx[XI(n, c, h, ww)] = (float)acc;
				}
}

void conv2d_bwd_weight_naive(const conv_shape *s, const float *x, const float *dy, float *dw, int flags)
{
	for (int k = 0; k < s->K; k++)
		for (int c = 0; c < s->C; c++)
			for (int r = 0; r < s->R; r++)
				for (int t = 0; t < s->S; t++) {
					double acc = (flags & OP_ACCUM) ? dw[WI(k, c, r, t)] : 0;
					for (int n = 0; n < s->N; n++)
						for (int p = 0; p < s->P; p++) {
							int h = p * s->stride - s->pad + r;
							if (h < 0 || h >= s->H)
								continue;
							for (int q = 0; q < s->Q; q++) {
								int ww = q * s->stride - s->pad + t;
								if (ww < 0 || ww >= s->W)
									continue;
								acc += (double)x[XI(n, c, h, ww)] * dy[YI(n, k, p, q)];
							}
						}
					dw[WI(k, c, r, t)] = (float)acc;
				}
}
