/* model.h: the network avsl-train trains and avsl-embed runs: a ResNet trunk (resnet.h) and, on top of its three
 * feature maps, either the AVSL head (setting avsl_proxyanchor, avsl_head.h) or the Proxy-Anchor baseline head
 * (setting proxy_anchor, baseline_head.h). Every tensor of both lives in one paramset (params.h).
 *
 * Dimension legend: N batch, Cin input channels, S input size (square), C_l/H_l/W_l level-l feature maps, D
 * embedding dim, K classes (proxies), L levels (3 for AVSL, 1 for the baseline's single embedding).
 */
#ifndef AVSL_MODEL_H
#define AVSL_MODEL_H

#include <stdint.h>

#include "avsl_head.h"
#include "baseline_head.h"
#include "device.h"
#include "params.h"
#include "resnet.h"
#include "train_config.h"

enum { MODEL_LEVELS = 3 };

typedef struct {
	train_setting setting;
	avsl_device *dev;          /* borrowed: every op of the model runs on dev->ctx */
	paramset ps;
	resnet *trunk;
	avsl_head *avsl;           /* setting avsl_proxyanchor */
	baseline_head *base;       /* setting proxy_anchor */
	avsl_head_config acfg;
	baseline_head_config bcfg;
	int in_channels, input_size;
	int D, K;
	int planned_n;             /* training batch size the buffers are planned for (model_plan) */
	int embed_n;               /* inference batch size (model_plan_embed) */
	int head_n;                /* the head's buffers: the larger of the two */
	size_t train_bytes, embed_bytes; /* activation memory of the trunk's last training / inference plan */
	int C[MODEL_LEVELS], H[MODEL_LEVELS], W[MODEL_LEVELS];
	float *dfeat[MODEL_LEVELS]; /* (N, C_l, H_l, W_l) dL/dF_l, written by the head, read by the trunk backward */
	size_t head_off;           /* flat offset of the head's first tensor (the trunk's are below it) */
	/* data parallel gradient sum (model_set_grad_sync) */
	int grad_sync, overlap;
	size_t sync_pending;       /* trunk gradients [sync_pending, head_off) not yet handed to the all-reduce */
	size_t bucket_floats;      /* smallest bucket started during the backward pass */
	/* On a CUDA device: inference (model_embed) uploads the parameters once (paramset_upload) before the first
	 * batch; training moves them there for good (model_to_device). The input batch and the embeddings pass through
	 * these device buffers. NULL on the CPU. */
	int params_on_device;      /* ps.dev holds the current parameters */
	float *dx;                 /* (dx_n, Cin, S, S) the uploaded batch */
	int dx_n;                  /* images dx holds: the larger of the training and inference batches */
	float *demb[MODEL_LEVELS], *dcert[MODEL_LEVELS]; /* (embed_n, D) */
} model;

/* Build the architecture that c describes with K classes on dev (borrowed; registers and allocates every tensor,
 * values zero). */
void model_create(model *m, const train_config *c, int K, avsl_device *dev);
void model_free(model *m);
/* The spec's initialisation of every tensor (trunk: torchvision's; heads: avsl-method.md §2-4). */
void model_init_random(model *m, uint64_t seed);
/* Load ImageNet trunk weights (safetensors, torchvision names) over the trunk; dies naming the file and tensor. */
void model_load_trunk(model *m, const char *path);
/* Size every buffer of a training step (model_train_step) for batches of up to N images of (in_channels,
 * input_size, input_size); train_bytes is the trunk's activation memory. */
void model_plan(model *m, int N);
/* The same for inference (model_embed) with the trunk's forward-only plan; embed_bytes is its activation memory.
 * The trunk keeps one arena, the larger of the two plans: plan neither kind that is not used. */
void model_plan_embed(model *m, int N);

/* Training on the model's device: the parameters and their gradients move to its memory (paramset_to_device) and
 * stay there; paramset_download(&m->ps) brings the values back for a checkpoint or a host reader. A no-op on the CPU.
 * Call after the parameters are final (initialised, loaded or resumed), before the first step. */
void model_to_device(model *m);

/* What of inference (model_embed) with the setting of c has no CUDA implementation: "op a, b" in buf (avsl_device_open's
 * cuda_missing), or NULL when all of it runs on CUDA. */
const char *model_embed_cuda_missing(const train_config *c, char *buf, size_t cap);

/* Embedding levels the model writes (3 for AVSL, 1 for the baseline) and whether certainties come with them. */
int model_levels(const model *m);
int model_has_cert(const model *m);

/* Data parallel (dist.h, several ranks): model_train_step ends with m->ps.grad summed over the ranks. overlap = 1
 * starts summing gradient buckets (the head, then the trunk's last blocks) while the backward pass still runs;
 * 0 sums the whole buffer after it. One process: nothing to sum. */
void model_set_grad_sync(model *m, int on, int overlap);
/* Data parallel batch norm (--sync-bn): on = 1 with several ranks makes the trunk's trained BN normalise by the
 * statistics of the global batch (resnet_set_bn_sync over dist_allreduce_f64); otherwise each rank's own slice. */
void model_set_sync_bn(model *m, int on);

/* One training step: forward, loss, backward. Gradients are ACCUMULATED into m->ps.grad (zero them first).
 * trunk_grads = 0 skips the trunk backward (warm-up: the trunk optimiser does not step; method §5 allows it).
 * x: (N, Cin, S, S). loss_terms: AVSL (final, level0, level1, level2); baseline (loss). Returns the total loss. */
float model_train_step(model *m, const float *x, const int32_t *labels, int N, int trunk_grads, float loss_terms[4]);

/* Eval-mode embeddings of x (N, Cin, S, S): AVSL emb[l], cert[l] (N, D) for l < 3 (embeddings not normalised);
 * baseline emb[0] (N, D), L2-normalised, cert ignored. x, emb and cert are host memory on every device: on CUDA the
 * first call uploads the parameters (they must be final: a loaded checkpoint), each call uploads x and downloads
 * only the embeddings and certainties. */
void model_embed(model *m, const float *x, int N, float *const emb[], float *const cert[]);

/* The eval collector built from the current parameters (AVSL only): s_hat is prepared into storage
 * ((L - 1) * D * D floats, owned by the caller); the view borrows m's coef/bias. */
void model_collector_view(const model *m, avsl_collector_view *v, float *s_hat_storage);

#endif
