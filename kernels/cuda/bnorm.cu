// bnorm.cu: batch norm (frozen and training mode) fused with the residual add and ReLU (twin of
// kernels/cpu/bnorm.c, the element-wise relu/add are in eltwise.cu), and the same split at its per-channel sums for
// --sync-bn (op_bn_stats, op_bn_bwd_data: twin of kernels/cpu/bnorm_split.c), built from the same kernels.
//
// Per-channel reductions run in two steps so that every SM has work for any (N, C, HW): a grid of
// (channel, split) blocks each sums a contiguous slice of the channel's N*HW values (float, one slice is at most a
// few thousand values) into the context workspace, then one thread per channel adds the splits in a fixed order in
// double. Results are deterministic (no atomics) and follow the CPU's formulas: two passes (mean, then squared
// deviations from the float mean), invstd and the running variance in double.
#include <math.h>

#include "cuda_internal.cuh"

namespace {

enum { BN_THREADS = 256, BN_PER_BLOCK = BN_THREADS * 8 };

// Splits per channel for M = N*HW values: about BN_PER_BLOCK values per block, at most 256 blocks per channel.
int bn_splits(int64_t M)
{
	int64_t s = (M + BN_PER_BLOCK - 1) / BN_PER_BLOCK;
	return s < 1 ? 1 : s > 256 ? 256 : (int)s;
}

// Element j of channel c, j in [0, N*HW): offset in the (N,C,HW) tensor. I is the index type: uint32_t when the
// tensor has < 2^31 elements (32-bit division is several times cheaper than 64-bit on the GPU), else int64_t.
template <typename I> __device__ __forceinline__ I bn_off(I j, int c, int C, int HW)
{
	const I n = j / (I)HW;
	return (n * (I)C + (I)c) * (I)HW + (j - n * (I)HW);
}

// part[c*splits + s] = sum over slice s of channel c (blockIdx.x = c, blockIdx.y = s) of x, or of (x - mean[c])^2
// when mean is not NULL.
template <typename I> __global__ void bn_stat_kernel(const float *x, int C, int HW, I M, const float *mean, float *part)
{
	__shared__ float sh[32];
	const int c = blockIdx.x, splits = gridDim.y;
	const I chunk = (M + splits - 1) / splits, j0 = chunk * blockIdx.y;
	const I j1 = j0 + chunk < M ? j0 + chunk : M;
	float acc = 0;
	if (mean) {
		const float mu = mean[c];
		for (I j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
			float d = x[bn_off(j, c, C, HW)] - mu;
			acc += d * d;
		}
	} else {
		for (I j = j0 + threadIdx.x; j < j1; j += blockDim.x)
			acc += x[bn_off(j, c, C, HW)];
	}
	acc = trunk_block_sum(acc, sh);
	if (threadIdx.x == 0)
		part[(int64_t)c * splits + blockIdx.y] = acc;
}

__global__ void bn_mean_kernel(const float *part, int C, int splits, double M, float *mean)
{
	for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
		double sum = 0;
		for (int s = 0; s < splits; s++)
			sum += part[(int64_t)c * splits + s];
		mean[c] = (float)(sum / M);
	}
}

__global__ void bn_var_kernel(const float *part, int C, int splits, double M, const float *gamma, const float *beta,
			      float eps, float momentum, const float *mean, float *running_mean, float *running_var,
			      float *invstd, float *scale, float *shift)
{
	for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
		double sq = 0;
		for (int s = 0; s < splits; s++)
			sq += part[(int64_t)c * splits + s];
		const double var = sq / M;
		const float muf = mean[c], is = (float)(1.0 / sqrt(var + eps));
		invstd[c] = is;
		const float sc = (gamma ? gamma[c] : 1.0f) * is;
		scale[c] = sc;
		shift[c] = (beta ? beta[c] : 0.0f) - muf * sc;
		if (running_mean)
			running_mean[c] = (1 - momentum) * running_mean[c] + momentum * muf;
		if (running_var)
			running_var[c] =
				(float)((1 - momentum) * running_var[c] + momentum * (M > 1 ? sq / (M - 1) : var));
	}
}

// y = act(x * scale[c] + shift[c] [+ res]) over (N,C,HW); y may equal x.
template <typename I>
__global__ void affine_act_kernel(const float *x, const float *scale, const float *shift, const float *res, float *y,
				  int C, int HW, I nel, int relu)
{
	for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (I)gridDim.x * blockDim.x) {
		const int c = (int)((i / (I)HW) % (I)C);
		float v = x[i] * scale[c] + shift[c];
		if (res)
			v += res[i];
		y[i] = relu ? (v > 0 ? v : 0) : v;
	}
}

template <typename I> __device__ __forceinline__ float bn_masked(const float *dy, const float *relu_y, I o)
{
	return relu_y ? (relu_y[o] > 0 ? dy[o] : 0.0f) : dy[o];
}

// Per slice of a channel: part[2*(c*splits+s)] = sum g, part[2*(c*splits+s)+1] = sum g (x - mean[c]) (0 if x is
// NULL), g the ReLU-masked gradient; also stores g into dres when not NULL (dres may equal dy).
template <typename I>
__global__ void bn_bwd_sum_kernel(const float *x, const float *dy, const float *relu_y, const float *mean, int C,
				  int HW, I M, float *dres, float *part)
{
	__shared__ float sh[32];
	const int c = blockIdx.x, splits = gridDim.y;
	const I chunk = (M + splits - 1) / splits, j0 = chunk * blockIdx.y;
	const I j1 = j0 + chunk < M ? j0 + chunk : M;
	const float mu = x ? mean[c] : 0.0f;
	float a = 0, b = 0;
	for (I j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
		const I o = bn_off(j, c, C, HW);
		const float g = bn_masked(dy, relu_y, o);
		if (dres)
			dres[o] = g;
		a += g;
		if (x)
			b += g * (x[o] - mu);
	}
	a = trunk_block_sum(a, sh);
	b = trunk_block_sum(b, sh);
	if (threadIdx.x == 0) {
		part[2 * ((int64_t)c * splits + blockIdx.y)] = a;
		part[2 * ((int64_t)c * splits + blockIdx.y) + 1] = b;
	}
}

// Per channel: accumulate dgamma/dbeta and leave coef[2c] = mean of g, coef[2c+1] = mean of g * xhat.
__global__ void bn_bwd_fin_kernel(const float *part, int C, int splits, float invM, const float *invstd, float *dgamma,
				  float *dbeta, float *coef)
{
	for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
		double sg = 0, sgx = 0;
		for (int s = 0; s < splits; s++) {
			sg += part[2 * ((int64_t)c * splits + s)];
			sgx += part[2 * ((int64_t)c * splits + s) + 1];
		}
		sgx *= invstd[c];
		if (dgamma)
			dgamma[c] += (float)sgx;
		if (dbeta)
			dbeta[c] += (float)sg;
		coef[2 * c] = (float)sg * invM;
		coef[2 * c + 1] = (float)sgx * invM;
	}
}

// dx = gamma*invstd * (g - mean(g) - xhat * mean(g xhat)) with batch statistics (coef not NULL), else
// gamma*invstd * g. dx may equal dy or dres.
template <typename I>
__global__ void bn_bwd_dx_kernel(const float *x, const float *dy, const float *relu_y, const float *gamma,
				 const float *mean, const float *invstd, const float *coef, int C, int HW, I nel,
				 float *dx)
{
	for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < nel; i += (I)gridDim.x * blockDim.x) {
		const int c = (int)((i / (I)HW) % (I)C);
		const float is = invstd[c], k = (gamma ? gamma[c] : 1.0f) * is;
		const float g = bn_masked(dy, relu_y, i);
		if (coef) {
			const float xh = (x[i] - mean[c]) * is;
			dx[i] = k * (g - coef[2 * c] - xh * coef[2 * c + 1]);
		} else {
			dx[i] = k * g;
		}
	}
}

// m2[c] = the double sum of the slices' squared deviations, rounded once (op_bn_stats).
__global__ void bn_m2_kernel(const float *part, int C, int splits, float *m2)
{
	for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
		double sq = 0;
		for (int s = 0; s < splits; s++)
			sq += part[(int64_t)c * splits + s];
		m2[c] = (float)sq;
	}
}

// coef[2c] = sum_g[c] / count, coef[2c+1] = sum_gxhat[c] / count (divided in double, as the CPU): the means that
// bn_bwd_dx_kernel subtracts (op_bn_bwd_data).
__global__ void bn_coef_kernel(const float *sum_g, const float *sum_gxhat, int C, double count, float *coef)
{
	for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
		coef[2 * c] = (float)(sum_g[c] / count);
		coef[2 * c + 1] = (float)(sum_gxhat[c] / count);
	}
}

int check_bn_shape(op_ctx *ctx, const bn_shape *s)
{
	if (s->N < 0 || s->C < 0 || s->HW < 0)
		return trunk_fail(ctx, "bn: invalid shape N=%d C=%d HW=%d", s->N, s->C, s->HW);
	return 0;
}

__global__ void bn_fold_kernel(int C, const float *gamma, const float *beta, const float *mean, const float *var,
			       float eps, float *scale, float *shift, float *invstd_out)
{
	for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
		const float is = 1.0f / sqrtf(var[c] + eps), sc = (gamma ? gamma[c] : 1.0f) * is;
		scale[c] = sc;
		shift[c] = (beta ? beta[c] : 0.0f) - mean[c] * sc;
		if (invstd_out)
			invstd_out[c] = is;
	}
}

// bn_bwd_dx_kernel over nel elements, with 32-bit indexing when they fit (bn_bwd, bn_bwd_data).
void launch_bwd_dx(const trunk_backend *b, const float *x, const float *dy, const float *relu_y, const float *gamma,
		   const float *mean, const float *invstd, const float *coef, int C, int HW, int64_t nel, float *dx)
{
	const unsigned g = trunk_grid(b, nel, 256);
	if (trunk_small(nel))
		bn_bwd_dx_kernel<uint32_t>
			<<<g, 256, 0, b->stream>>>(x, dy, relu_y, gamma, mean, invstd, coef, C, HW, (uint32_t)nel, dx);
	else
		bn_bwd_dx_kernel<int64_t>
			<<<g, 256, 0, b->stream>>>(x, dy, relu_y, gamma, mean, invstd, coef, C, HW, nel, dx);
}

// The two statistics passes of bn_train_fwd and bn_stats: mean (C) from the slice sums, then *part (C, splits)
// (context workspace) holding each slice's sum of squared deviations from that mean. Returns splits, or -1.
int bn_two_passes(op_ctx *ctx, const bn_shape *s, const float *x, float *mean, float **part_out)
{
	trunk_backend *b = trunk_of(ctx);
	const int C = s->C;
	const int64_t M = (int64_t)s->N * s->HW;
	const int splits = bn_splits(M);
	float *part = (float *)trunk_workspace(ctx, (size_t)C * splits * sizeof(float));
	if (!part)
		return -1;
	const dim3 grid(C, splits);
	const int small = trunk_small(M * C);
	if (small)
		bn_stat_kernel<uint32_t><<<grid, BN_THREADS, 0, b->stream>>>(x, C, s->HW, (uint32_t)M, NULL, part);
	else
		bn_stat_kernel<int64_t><<<grid, BN_THREADS, 0, b->stream>>>(x, C, s->HW, M, NULL, part);
	bn_mean_kernel<<<trunk_grid(b, C, 128), 128, 0, b->stream>>>(part, C, splits, (double)M, mean);
	if (small)
		bn_stat_kernel<uint32_t><<<grid, BN_THREADS, 0, b->stream>>>(x, C, s->HW, (uint32_t)M, mean, part);
	else
		bn_stat_kernel<int64_t><<<grid, BN_THREADS, 0, b->stream>>>(x, C, s->HW, M, mean, part);
	*part_out = part;
	return splits;
}

} // namespace

extern "C" int cuda_bn_fold(op_ctx *ctx, int C, const float *gamma, const float *beta, const float *mean,
			    const float *var, float eps, float *scale, float *shift, float *invstd_out)
{
	trunk_backend *b = trunk_of(ctx);
	if (C <= 0)
		return C < 0 ? trunk_fail(ctx, "bn_fold: C=%d", C) : 0;
	bn_fold_kernel<<<trunk_grid(b, C, 256), 256, 0, b->stream>>>(C, gamma, beta, mean, var, eps, scale, shift,
								     invstd_out);
	return trunk_launched(ctx, "bn_fold");
}

extern "C" int cuda_affine_act_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *scale,
				   const float *shift, const float *res, float *y, int flags)
{
	if (trunk_needs_plain(ctx, "affine_act_fwd", s->fmt, OP_NCHW))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	if (check_bn_shape(ctx, s))
		return -1;
	const int64_t nel = (int64_t)s->N * s->C * s->HW;
	if (nel == 0)
		return 0;
	const unsigned g = trunk_grid(b, nel, 256);
	const int relu = (flags & OP_RELU) != 0;
	if (trunk_small(nel))
		affine_act_kernel<uint32_t>
			<<<g, 256, 0, b->stream>>>(x, scale, shift, res, y, s->C, s->HW, (uint32_t)nel, relu);
	else
		affine_act_kernel<int64_t><<<g, 256, 0, b->stream>>>(x, scale, shift, res, y, s->C, s->HW, nel, relu);
	return trunk_launched(ctx, "affine_act_fwd");
}

extern "C" int cuda_bn_train_fwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *gamma, const float *beta,
				 float eps, float momentum, float *running_mean, float *running_var, float *mean,
				 float *invstd, float *scale, float *shift, const float *res, float *y, int flags)
{
	if (trunk_needs_plain(ctx, "bn_train_fwd", s->fmt, OP_NCHW))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	if (check_bn_shape(ctx, s))
		return -1;
	const int C = s->C;
	if (C == 0)
		return 0;
	const int64_t M = (int64_t)s->N * s->HW;
	float *part;
	const int splits = bn_two_passes(ctx, s, x, mean, &part);
	if (splits < 0)
		return -1;
	bn_var_kernel<<<trunk_grid(b, C, 128), 128, 0, b->stream>>>(part, C, splits, (double)M, gamma, beta, eps,
								    momentum, mean, running_mean, running_var, invstd,
								    scale, shift);
	if (trunk_launched(ctx, "bn_train_fwd: statistics"))
		return -1;
	return cuda_affine_act_fwd(ctx, s, x, scale, shift, res, y, flags);
}

extern "C" int cuda_bn_bwd(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
			   const float *gamma, const float *mean, const float *invstd, int batch_stats, float *dx,
			   float *dres, float *dgamma, float *dbeta)
{
	if (trunk_needs_plain(ctx, "bn_bwd", s->fmt, OP_NCHW))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	if (check_bn_shape(ctx, s))
		return -1;
	const int C = s->C, HW = s->HW;
	const int need_sums = batch_stats || dgamma || dbeta;
	if (need_sums && !x && (batch_stats || dgamma))
		return trunk_fail(ctx, "bn_bwd: x is needed for batch statistics or dgamma");
	const int64_t M = (int64_t)s->N * HW, nel = M * C;
	if (C == 0)
		return 0;
	float *coef = NULL;
	if (need_sums || dres) {
		const int splits = bn_splits(M);
		float *part = (float *)trunk_workspace(ctx, ((size_t)2 * C * splits + 2 * (size_t)C) * sizeof(float));
		if (!part)
			return -1;
		if (trunk_small(nel))
			bn_bwd_sum_kernel<uint32_t><<<dim3(C, splits), BN_THREADS, 0, b->stream>>>(
				x, dy, relu_y, mean, C, HW, (uint32_t)M, dres, part);
		else
			bn_bwd_sum_kernel<int64_t><<<dim3(C, splits), BN_THREADS, 0, b->stream>>>(x, dy, relu_y, mean,
												  C, HW, M, dres, part);
		if (need_sums) {
			float *cf = part + (size_t)2 * C * splits;
			bn_bwd_fin_kernel<<<trunk_grid(b, C, 128), 128, 0, b->stream>>>(
				part, C, splits, 1.0f / ((float)s->N * HW), invstd, dgamma, dbeta, cf);
			if (batch_stats)
				coef = cf;
		}
		if (trunk_launched(ctx, "bn_bwd: sums"))
			return -1;
	}
	if (!dx || nel == 0)
		return 0;
	launch_bwd_dx(b, x, dy, relu_y, gamma, mean, invstd, coef, C, HW, nel, dx);
	return trunk_launched(ctx, "bn_bwd: dx");
}

// The statistics half of bn_train_fwd: the same two passes, the squared deviations left unnormalised.
extern "C" int cuda_bn_stats(op_ctx *ctx, const bn_shape *s, const float *x, float *mean, float *m2)
{
	if (trunk_needs_plain(ctx, "bn_stats", s->fmt, OP_NCHW) || check_bn_shape(ctx, s))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	const int C = s->C;
	if (C == 0)
		return 0;
	float *part;
	const int splits = bn_two_passes(ctx, s, x, mean, &part);
	if (splits < 0)
		return -1;
	bn_m2_kernel<<<trunk_grid(b, C, 128), 128, 0, b->stream>>>(part, C, splits, m2);
	return trunk_launched_at(ctx, "bn_stats (N %d, C %d, HW %d)", s->N, C, s->HW);
}

// The data half of bn_bwd with sums from every process: bn_bwd's dx kernel with the means made from them.
extern "C" int cuda_bn_bwd_data(op_ctx *ctx, const bn_shape *s, const float *x, const float *dy, const float *relu_y,
				const float *gamma, const float *mean, const float *invstd, const float *sum_g,
				const float *sum_gxhat, double count, float *dx)
{
	if (!(count > 0))
		return trunk_fail(ctx, "bn_bwd_data: count must be positive");
	if (trunk_needs_plain(ctx, "bn_bwd_data", s->fmt, OP_NCHW) || check_bn_shape(ctx, s))
		return -1;
	trunk_backend *b = trunk_of(ctx);
	const int C = s->C, HW = s->HW;
	const int64_t nel = (int64_t)s->N * C * HW;
	if (nel == 0)
		return 0;
	float *coef = (float *)trunk_workspace(ctx, (size_t)2 * C * sizeof(float));
	if (!coef)
		return -1;
	bn_coef_kernel<<<trunk_grid(b, C, 128), 128, 0, b->stream>>>(sum_g, sum_gxhat, C, count, coef);
	launch_bwd_dx(b, x, dy, relu_y, gamma, mean, invstd, coef, C, HW, nel, dx);
	return trunk_launched_at(ctx, "bn_bwd_data (N %d, C %d, HW %d)", s->N, C, HW);
}
