/* optim.h: AdamW over a paramset's flat buffers, the StepLR-with-warm-up schedule and gradient clipping.
 *
 * The official code runs three torch.optim.AdamW optimisers (trunk, embedder, collector; avsl-method.md §5). Here
 * one adamw object holds them as groups of the same paramset: each group has its own lr, weight decay, "active"
 * flag (warm-up: an inactive group is not touched at all) and its own step counter for the bias correction, so a
 * group that sat out the warm-up starts its counter at 1 afterwards, exactly like a separate optimiser.
 *
 * A tensor belongs to group g when info->group == g and info->trainable; buffers (PG_NONE) and non-trainable tensors
 * are never touched. Tensors that never receive a gradient in the official code (trunk fc, collector α_0/β_0) must
 * be registered non-trainable, since PyTorch skips them (no decay) while a zero gradient here would still decay.
 *
 * The gradient is read from ps->grad, one flat array: a data-parallel run all-reduces (averages) that one buffer
 * (MPI/NCCL) between backward and optim_clip_due()/adamw_step(); nothing else needs to change.
 * m and v have the layout of ps->data (same offsets), so a checkpoint can save them as two flat tensors.
 */
#ifndef AVSL_OPTIM_H
#define AVSL_OPTIM_H

#include <stdint.h>

#include "ops.h" /* op_adamw_step, op_sq_norm, op_scale */
#include "params.h"

typedef struct {
	double lr;      /* current learning rate (set from the schedule each epoch) */
	double wd;      /* decoupled weight decay: p <- p * (1 - lr * wd) before the Adam update */
	int active;     /* 0: the group's optimiser is not stepped (warm-up); no update, no decay, no step count */
	int64_t step;   /* steps taken by this group's optimiser (torch's state['step']); bias correction uses it */
} adamw_group;

typedef struct {
	paramset *ps;            /* borrowed; finalized */
	double beta1, beta2, eps;
	adamw_group group[PG_COUNT]; /* indexed by param_group; group[PG_NONE] is never used */
	float *m;                /* (ps->total) first moment (torch exp_avg), same offsets as ps->data */
	float *v;                /* (ps->total) second moment (torch exp_avg_sq) */
	/* Training on a device (adamw_to_device): the moments there, authoritative; m and v are stale until
	 * adamw_download. NULL on the CPU. */
	float *dev_m, *dev_v;    /* (ps->total) each, device memory of ctx */
	avsl_adamw_segment *seg; /* the trainable ranges (adjacent tensors of a group merged), in offset order */
	int nseg;
	op_ctx *ctx;             /* the context its ops run on (the model's, = the device's), borrowed; NULL: a CPU
				  * context of its own with `threads` threads (<= 0: all CPUs), made at the first use */
	int threads;
	op_ctx own;
	int own_open;
} adamw;

/* β1 0.9, β2 0.999, eps 1e-8, every group active with lr 0 and wd 0, step 0, m = v = 0. ps must be finalized. */
void adamw_init(adamw *o, paramset *ps);
void adamw_free(adamw *o);
/* The context o's ops run on (o->ctx, else its own CPU one). */
op_ctx *adamw_ctx(adamw *o);
/* Run on ctx from now on (o->ctx = ctx); on a device, upload m and v and keep them there. Call after the paramset
 * moved (paramset_to_device) and after a resumed checkpoint filled m and v. */
void adamw_to_device(adamw *o, op_ctx *ctx);
/* The device moments back into m and v (before a checkpoint); a no-op on the CPU. */
void adamw_download(adamw *o);
/* One torch.optim.AdamW step (PyTorch 1.13 single-tensor arithmetic, float32) for every active group, reading
 * ps->grad: op_adamw_step on adamw_ctx(o) with the tables below; each active group's step count advances by one. */
void adamw_step(adamw *o);
/* The group table of a step: advance each active group's step count and fill groups[PG_COUNT] (indexed by
 * param_group; PG_NONE inactive) with the values of this step (adamw_step calls it). */
void adamw_prepare_groups(adamw *o, avsl_adamw_group groups[PG_COUNT]);
/* The segment table of the steps (o->seg): copied to seg (ps->n entries); returns the count. */
int adamw_segments(const adamw *o, avsl_adamw_segment *seg);
/* Number of floats of group g that adamw_step updates (trainable tensors only). */
size_t adamw_group_numel(const adamw *o, param_group g);

/* StepLR after a warm-up (§5): lr0 for epoch < warm_up; lr0 * gamma^floor((epoch - warm_up) / step) afterwards.
 * step >= 1. */
double steplr_lr(double lr0, int epoch, int warm_up, int step, double gamma);

/* Global L2 norm of the gradients of group g's trainable tensors: op_sq_norm per tensor on ctx (double, a fixed
 * order: the same bits for any thread count), summed in tensor order. */
double grad_norm_group(op_ctx *ctx, const paramset *ps, param_group g);
/* torch.nn.utils.clip_grad_norm_(group g, max_norm): if norm > max_norm, scale the group's gradients by
 * max_norm / (norm + 1e-6) (op_scale, the factor rounded to float). Returns the norm before clipping. */
double grad_clip_group(op_ctx *ctx, paramset *ps, param_group g, double max_norm);

/* When clipping happens. The official code clips only on the very first iteration of training (§11-P3). */
typedef enum { CLIP_FIRST = 0, CLIP_EVERY = 1, CLIP_NEVER = 2 } clip_mode;
/* Whether to clip at global iteration `iter` (0-based, counted over all epochs since the start of training). */
int optim_clip_due(clip_mode mode, int64_t iter);
/* "first" / "every" / "never" -> mode, or -1. */
int clip_mode_parse(const char *s);
const char *clip_mode_name(clip_mode m);

#endif
