/* checkpoint.h: saving and loading models and training state as safetensors (formats/checkpoint.md).
 *
 * A checkpoint holds every persistent tensor of the model under its checkpoint name (the trunk under torchvision
 * names), the AdamW moments as optim.m.<name> / optim.v.<name> when an optimiser is given, and in __metadata__ the
 * full training configuration (avsl.config, JSON), the numbers readers need without JSON (avsl.levels, ...) and the
 * training state (epoch, step, per-group optimiser steps, links flag, best recall, ...), so that --resume continues
 * bit for bit like an uninterrupted run.
 */
#ifndef AVSL_CHECKPOINT_H
#define AVSL_CHECKPOINT_H

#include <stdint.h>

#include "model.h"
#include "optim.h"
#include "safetensors.h"
#include "train_config.h"

typedef struct {
	int epoch;            /* epochs completed */
	int64_t step;         /* training iterations done, over all epochs */
	int batch_in_epoch;   /* batches of `epoch` already done: a save at a signal mid-epoch; 0 at epoch ends */
	double best_recall1;  /* best test Recall@1 so far (-1: never evaluated) */
	int best_epoch;       /* its epoch (-1: none) */
	int bad_epochs;       /* the early-stop counter (method §5) */
} train_state;

/* Write a checkpoint atomically (temporary name, fsync, rename). opt and st may be NULL (a model-only file). */
void checkpoint_save(const char *path, const model *m, const adamw *opt, const train_config *c,
		     const train_state *st);

/* The one reader of a checkpoint's hyper-parameters, used by every tool (formats/checkpoint.md §4): checks
 * avsl.format_version, reads avsl.config (authoritative) into c, refuses values no model can have (topk_corr
 * outside [1, D], a std that is not finite and > 0) and checks that every summary key present (avsl.setting,
 * arch, levels, embeddings_dim, topk_corr, prob_gamma, index_p, avsl_m, seed, input) agrees with it: a
 * contradiction is an error naming the file and the key. c must hold a configuration (train_config_init); it is
 * freed and replaced. Dies on any error. */
void checkpoint_read_config(const char *path, train_config *c);
void checkpoint_config_from(const st_file *f, train_config *c);
/* The collector's evaluation parameters (levels, D, topk, gamma_p, p, m) of configuration c. */
void checkpoint_collector_config(const train_config *c, avsl_head_config *a);

/* Build the model that c describes on dev with the checkpoint's class count and load every tensor. When opt is not
 * NULL it is initialised over the model and its moments and step counts are restored; when st is not NULL the
 * training state is restored. Dies naming the file and the tensor or field on any mismatch. */
void checkpoint_load(const char *path, const train_config *c, model *m, adamw *opt, train_state *st,
		     avsl_device *dev);

#endif
