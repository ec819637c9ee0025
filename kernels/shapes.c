/* shapes.c: output sizes of convolution and pooling (shared by every backend). */
#include "ops.h"

conv_shape conv_shape_make(int N, int C, int H, int W, int K, int R, int S, int stride, int pad)
{
	conv_shape s = {N, C, H, W, K, R, S, stride, pad, 0, 0};
	s.P = (H + 2 * pad - R) / stride + 1;
	s.Q = (W + 2 * pad - S) / stride + 1;
	return s;
}

pool_shape pool_shape_make(int N, int C, int H, int W, int R, int S, int stride, int pad)
{
	pool_shape s = {N, C, H, W, R, S, stride, pad, 0, 0};
	s.P = (H + 2 * pad - R) / stride + 1;
	s.Q = (W + 2 * pad - S) / stride + 1;
	return s;
}

size_t op_act_numel(int N, int C, int HW, int fmt)
{
	size_t c = fmt == OP_NCHW8C ? (size_t)(C + 7) / 8 * 8 : (size_t)C;
	return (size_t)N * c * (size_t)HW;
}
