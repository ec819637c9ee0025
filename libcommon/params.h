/* params.h: the registry of a model's named tensors, all living in ONE flat float buffer.
 *
 * Why one buffer: the optimiser, the gradient all-reduce (MPI/NCCL, later) and the checkpoint writer each see a
 * single array (params, grads, Adam m, Adam v all have the same layout), so none of them needs to walk a model.
 * Every layer registers its tensors at construction (paramset_add), then paramset_finalize() allocates the
 * buffers and each layer fetches its pointers with paramset_data()/paramset_grad() by the index it got back.
 *
 * Names are the checkpoint names (formats/checkpoint.md): torchvision names for the trunk ("conv1.weight",
 * "layer1.0.bn1.running_mean"), "embedder.*" and "collector.*" for AVSL.
 */
#ifndef AVSL_PARAMS_H
#define AVSL_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "tensor.h"

/* Optimiser group of a tensor. Buffers (BN running stats, AVSL link matrices) are PG_NONE and never trained. */
typedef enum { PG_NONE = 0, PG_TRUNK = 1, PG_EMBEDDER = 2, PG_COLLECTOR = 3, PG_COUNT } param_group;

enum { PARAM_MAX_DIMS = 4 };

typedef struct {
	char name[96];
	int ndim;
	int64_t shape[PARAM_MAX_DIMS];
	size_t numel;
	size_t offset;      /* in floats, into data/grad/m/v; 16-float aligned so each tensor starts on 64 bytes */
	param_group group;  /* optimiser group; PG_NONE for buffers */
	int trainable;      /* receives gradients and optimiser updates */
	int persistent;     /* saved in checkpoints (everything except scratch) */
} param_info;

typedef struct {
	param_info *info;
	int n, cap;
	size_t total;       /* floats in each flat buffer, after finalize */
	float *data;        /* (total) parameter and buffer values */
	float *grad;        /* (total) gradients; zero for buffers */
	int finalized;
	/* A CUDA device's copy of data (paramset_upload): what the ops read. NULL on the CPU, where they read data. */
	float *dev;         /* (total) device memory of dev_ctx */
	op_ctx *dev_ctx;    /* borrowed */
	/* Training on a device (paramset_to_device): the gradients live there too, and the device copy of the values
	 * is the authoritative one: data is stale until paramset_download (before a checkpoint or a host read). */
	float *dev_grad;    /* (total) device memory of dev_ctx, or NULL */
} paramset;

void paramset_init(paramset *ps);
/* Register a tensor; returns its index. Dies on a duplicate name or after finalize. */
int paramset_add(paramset *ps, const char *name, int ndim, const int64_t *shape, param_group group, int trainable);
/* Allocate data and grad (64-byte aligned, zero-filled). */
void paramset_finalize(paramset *ps);
void paramset_free(paramset *ps);

float *paramset_data(const paramset *ps, int idx);
float *paramset_grad(const paramset *ps, int idx);
/* Copy data to the memory of ctx's device once it is final (a loaded checkpoint): a no-op for the CPU; for CUDA one
 * device buffer of `total` floats (allocated by the first call, refreshed by later ones). Dies on a device error. */
void paramset_upload(paramset *ps, op_ctx *ctx);
/* The tensor where the ops read it: the device copy after paramset_upload to a CUDA device, else data. */
const float *paramset_op_data(const paramset *ps, int idx);
/* The same, writable (training: BN running statistics, the AVSL links' EMA, the optimiser), and the gradient where
 * the ops write it (dev_grad after paramset_to_device, else grad). */
float *paramset_op_mut(const paramset *ps, int idx);
float *paramset_op_grad(const paramset *ps, int idx);
/* The flat buffers where the ops work on them (total floats each): values and gradients. */
float *paramset_op_values(const paramset *ps);
float *paramset_op_grads(const paramset *ps);
/* Training on ctx's device: upload the values (paramset_upload) and keep zeroed gradients there; from then on the ops
 * read and write the device copies. A no-op for the CPU. Dies on a device error (the message names the bytes). */
void paramset_to_device(paramset *ps, op_ctx *ctx);
/* The device values back into data, so a checkpoint or a host reader sees this step's parameters (a no-op without a
 * device copy, or when the device copy is only an upload of data: paramset_upload). */
void paramset_download(paramset *ps);
/* The tensor idx as a host view (data, or grad when want_grad). */
tensor paramset_tensor(const paramset *ps, int idx, int want_grad);
/* Index of a tensor by name, or -1. */
int paramset_find(const paramset *ps, const char *name);
/* Zero the gradients where the ops write them (the device's after paramset_to_device). */
void paramset_zero_grad(paramset *ps);
/* Number of trainable floats (what an optimiser or all-reduce touches). */
size_t paramset_trainable_count(const paramset *ps);

#endif
