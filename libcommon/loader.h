/* loader.h: the data loader: batches of augmented, normalised CHW tensors read from a shard or manifest.
 *
 * Train mode (avsl-method.md §1.3, §5): a fresh permutation of all records each epoch, a pure function of
 * (seed, epoch); the last incomplete batch is dropped. Each sample: Resize(resize) of the shorter side (skipped
 * when the stored image already has it, or resize = 0), RandomResizedCrop(out_h x out_w, scale, ratio), horizontal
 * flip with p = 0.5, /255, (x - mean) / std. Its random numbers come from the Philox stream
 * (seed, rng_stream_id(epoch, record index, LOADER_RNG_AUG)), so a batch never depends on the thread count or on
 * prefetching.
 * Eval mode: records in stored order, Resize(resize) then CenterCrop(out_h x out_w); the last partial batch is kept.
 * Crop sizes never exceed the image (tiny images such as 28x28 Fashion-MNIST: the crop is the whole image side,
 * resized to the output size).
 *
 * Decoding and augmentation run on a thread pool (cfg.threads); with cfg.prefetch the next batch is prepared by a
 * background thread while the caller trains (double buffering).
 */
#ifndef AVSL_LOADER_H
#define AVSL_LOADER_H

#include <stdint.h>

#include "fmt_error.h"
#include "image.h"

/* Purpose tags of the random streams (third argument of rng_stream_id). */
enum { LOADER_RNG_AUG = 0x61756700u, LOADER_RNG_PERM = 0x7065726du };

typedef struct {
	int batch;                    /* images per batch (train: 180) */
	int out_h, out_w;             /* output size (224 x 224) */
	int channels;                 /* output channels 1 or 3 (gray replicated / RGB turned to luma) */
	int train;                    /* 1: shuffled, augmented, drop_last; 0: sequential, center crop */
	int resize;                   /* shorter side before cropping (256); 0: never resize */
	float scale_lo, scale_hi;     /* RandomResizedCrop area scale (0.16, 1) */
	float ratio_lo, ratio_hi;     /* RandomResizedCrop aspect ratio (0.75, 1.33) */
	int flip;                     /* train: horizontal flip with p = 0.5 (1) */
	float mean[3], std[3];        /* per output channel (ImageNet) */
	uint64_t seed;
	int threads;                  /* decoding threads; <= 0: all CPUs */
	int prefetch;                 /* 1: prepare the next batch in a background thread (default) */
	int rank, world;              /* data parallel: this process's part (0 and 1 = everything; see below) */
} loader_config;

/* Data parallel (rank r of w): train mode uses one global permutation with global batches of `batch` records (the
 * same batches as one process, whatever w is); rank r gets positions [batch * r / w, batch * (r + 1) / w) of each,
 * so the ranks together see exactly the batches of a single process (and identical pixels: augmentation depends on
 * the record, not the rank), and a run can resume on another number of ranks. Eval mode gives rank r the contiguous
 * records [lo, hi) made of whole batches of the one-process schedule: batches [nb r / w, nb (r + 1) / w) of the nb =
 * ceil(count / batch), so each image is embedded in the same batch as by one process. */
/* The most images one loader_next gives this rank: ceil(batch / world) in train mode, else batch. */
int loader_rank_batch(const loader_config *c);

typedef struct loader loader;

/* ImageNet defaults: batch 180, 224 x 224 x 3, resize 256, scale (0.16, 1), ratio (0.75, 1.33), flip, train,
 * prefetch, rank 0 of 1. */
void loader_config_default(loader_config *c);

/* Open a shard (.avs) or manifest. Returns NULL with err filled ("PATH: what") on a bad file or a bad config (e.g.
 * train mode with fewer records than one global batch). */
loader *loader_open(const char *path, const loader_config *cfg, fmt_error *err);
/* Same, dying with the message (exit 1). */
loader *loader_open_or_die(const char *path, const loader_config *cfg);
void loader_close(loader *l);

uint64_t loader_count(const loader *l);        /* records */
uint64_t loader_rank_count(const loader *l);   /* eval: this rank's records hi - lo; train: all records */
uint64_t loader_rank_first(const loader *l);   /* eval: this rank's first record lo; train: 0 */
int32_t loader_num_classes(const loader *l);   /* highest label + 1 */
int64_t loader_num_batches(const loader *l);   /* batches per epoch (train: floor(count / batch)) */
/* Label of record i without decoding it. */
int32_t loader_label(const loader *l, uint64_t i);

/* Start (or restart) an epoch: train mode draws the permutation of `epoch`; eval mode ignores it. Must be called
 * before the first loader_next. */
void loader_start_epoch(loader *l, int epoch);
/* Start an epoch at batch first_batch (resuming a run interrupted mid-epoch): the batches are those that
 * loader_start_epoch(l, epoch) would give from that point on. */
void loader_start_epoch_at(loader *l, int epoch, int64_t first_batch);
/* Copy the next batch into x (batch, channels, out_h, out_w), labels (batch) and ids (batch; record indexes, may be
 * NULL). Returns the number of images (< batch only for the last eval batch), 0 at the end of the epoch, or -1 on a
 * read error (message in loader_error). */
int loader_next(loader *l, float *x, int32_t *labels, int64_t *ids);
/* Like loader_next but without the copy: pointers into the loader's own buffers, valid until the next call. */
int loader_next_borrow(loader *l, const float **x, const int32_t **labels, const int64_t **ids);
const char *loader_error(const loader *l);

/* The crop box and flip train mode uses for record idx in epoch, on its H x W image (after the resize). A pure
 * function of (cfg->seed, epoch, idx): exposed so tests and tools can reproduce any sample. */
void loader_train_params(const loader_config *cfg, int epoch, uint64_t idx, int H, int W, crop_box *box, int *flip);

#endif
