/* resnet.h: ResNet-18/34/50 trunks (torchvision "v1.5" layout and tensor names) and a CIFAR-style small variant,
 * forward and backward on the op contract (kernels/ops.h).
 *
 * Architectures (cfg.arch):
 *   "resnet18", "resnet34" (BasicBlock), "resnet50" (Bottleneck, stride in the 3x3): stem conv7x7/2 pad 3, BN,
 *       ReLU, max-pool 3x3/2 pad 1; layer1..4 with widths w, 2w, 4w, 8w (w = base_width, 64 by default).
 *   "cifar_resnet18", "cifar_resnet34", "cifar_resnet50": the same blocks after a 3x3 stride-1 pad-1 stem and no
 *       max-pool, for 28x28 / 32x32 images.
 * Tensor names are torchvision's: conv1.weight, bn1.{weight,bias,running_mean,running_var},
 * layer1.0.conv1.weight, layer1.0.bn1.*, layer2.0.downsample.0.weight, layer2.0.downsample.1.*, ... (no fc).
 * Feature levels 0, 1, 2 are the (post-ReLU) outputs of layer2, layer3, layer4.
 *
 * BN: freeze_bn = 1 (AVSL default): every BN is the fixed affine map of its running statistics, gamma/beta are
 * not trainable, running stats never change. freeze_bn = 0: forward(train = 1) uses batch statistics and updates
 * the running stats (momentum 0.1, unbiased variance), forward(train = 0) uses the running stats; gamma/beta are
 * trainable (PG_TRUNK).
 */
#ifndef AVSL_RESNET_H
#define AVSL_RESNET_H

#include <stdint.h>

#include "bn_sync.h"
#include "fmt_error.h"
#include "ops.h"
#include "params.h"
#include "safetensors.h"

typedef struct {
	const char *arch; /* see above */
	int in_channels;  /* 1 or 3 */
	int base_width;   /* 0: 64 */
	int freeze_bn;
	op_ctx *ctx;      /* the device's op context (avsl_device.ctx; its threads): borrowed, outlives the resnet */
} resnet_config;

typedef struct resnet resnet;

/* Register the trunk's tensors in ps (before paramset_finalize). Dies on an unknown arch or bad config. */
resnet *resnet_create(const resnet_config *cfg, paramset *ps);
/* torchvision init: kaiming normal (fan_out, relu) for convs, BN weight 1 bias 0, running mean 0 var 1. */
void resnet_init(resnet *r, paramset *ps, uint64_t seed);
/* Load every trunk tensor by its torchvision name from f (any float dtype; fc.* and num_batches_tracked are
 * ignored). Returns 0, or -1 with err naming the missing or mis-shaped tensor. ImageNet weights (run with
 * /usr/bin/python3 from the repository root):
 *   import sys, torchvision as tv; sys.path.insert(0, "tests/reference"); import st_write
 *   m = tv.models.resnet50(weights=tv.models.ResNet50_Weights.IMAGENET1K_V1)
 *   st_write.save("resnet50.safetensors", m.state_dict())
 */
int resnet_load_torchvision(resnet *r, paramset *ps, const st_file *f, fmt_error *err);
/* Plan the activations for input (N, in_channels, H, W): one allocation; call again when the shape changes. */
void resnet_plan(resnet *r, int N, int H, int W);
/* Shape of feature level 0, 1, 2 (layer2, layer3, layer4) for the planned input. */
void resnet_feature_shape(const resnet *r, int level, int *C, int *H, int *W);
/* x: (N, in_channels, H, W) as planned. feat[l] (N, C_l, H_l, W_l) post-ReLU, owned by r, valid until the next
 * forward. x must stay valid until resnet_backward. */
void resnet_forward(resnet *r, paramset *ps, const float *x, int train, const float *feat[3]);
/* Backward of the last forward. dfeat[l] (N, C_l, H_l, W_l) or NULL (no gradient from that level).
 * Accumulates into ps->grad (conv weights; BN gamma/beta when not frozen) when want_param_grads. */
void resnet_backward(resnet *r, paramset *ps, const float *const dfeat[3], int want_param_grads);
/* Overlap of the gradient all-reduce (data parallel): during resnet_backward with param grads, fn(ctx, off) is
 * called each time the gradient of every trunk tensor at flat offset >= off is final (after each block, the last
 * layers first, and once more after the stem with the trunk's first offset). NULL: no calls. */
void resnet_set_grad_ready_hook(resnet *r, void (*fn)(void *ctx, size_t off), void *ctx);
/* Synchronised batch norm (data parallel, avsl-train --sync-bn): with BN trained (freeze_bn = 0), every training
 * forward normalises with the mean/variance of the batch of all participants, summed by sy (bn_sync.h), and updates
 * the running statistics from them; the backward uses that batch's sums too. sy is copied; NULL (the default): each
 * process's own batch. No effect with frozen BN or in eval forwards (running statistics). */
void resnet_set_bn_sync(resnet *r, const bn_sync *sy);
/* Forward FLOPs (2 per multiply-add) of the convolutions for one image of the planned size. */
double resnet_flops_per_image(const resnet *r);
/* The op context the trunk runs on (cfg->ctx). */
op_ctx *resnet_ctx(resnet *r);
void resnet_free(resnet *r);

#endif
