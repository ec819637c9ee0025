/* layout.c: conversion between plain NCHW and channel-blocked NCHW8C activations (ops.h). */
#include <string.h>

#include "op_backend.h"
#include "cpu_internal.h"

int cpu_layout_convert(op_ctx *ctx, int N, int C, int HW, const float *src, int src_fmt, float *dst, int dst_fmt,
		       int flags)
{
	const int acc = !!(flags & OP_ACCUM), CB = (C + 7) / 8;
	if (src_fmt == dst_fmt) {
		size_t n = op_act_numel(N, C, HW, src_fmt);
#pragma omp parallel for simd num_threads(ctx->threads) schedule(static)
		for (size_t i = 0; i < n; i++)
			dst[i] = acc ? dst[i] + src[i] : src[i];
		return 0;
	}
	const long blocks = (long)N * CB;
	const int to_blocked = dst_fmt == OP_NCHW8C;
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 16)
	for (long nb = 0; nb < blocks; nb++) {
		int n = (int)(nb / CB), cb = (int)(nb % CB);
		float *bl = (float *)(to_blocked ? dst : src) + (size_t)nb * HW * 8;
		for (int l = 0; l < 8; l++) {
			int c = cb * 8 + l;
			if (c >= C) {
				if (to_blocked && !acc)
					for (int i = 0; i < HW; i++)
						bl[(size_t)i * 8 + l] = 0;
				continue;
			}
			float *pl = (float *)(to_blocked ? src : dst) + ((size_t)n * C + c) * HW;
			if (to_blocked) {
				for (int i = 0; i < HW; i++)
					bl[(size_t)i * 8 + l] = (acc ? bl[(size_t)i * 8 + l] : 0) + pl[i];
			} else {
				for (int i = 0; i < HW; i++)
					pl[i] = (acc ? pl[i] : 0) + bl[(size_t)i * 8 + l];
			}
		}
	}
	return 0;
}
