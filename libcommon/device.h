/* device.h: which device runs the ops, and its memory. Chosen at run time by `-d cpu|cuda|auto` or AVSL_DEVICE.
 *
 * No CUDA type appears here or in anything it includes: device pointers are void *, the backend is an op context
 * (kernels/ops.h), whose CUDA table is NULL in a build without CUDA, so this header and every tool are the same in
 * both builds; asking for CUDA in a CPU-only build fails with a message, never at link time.
 *
 *     avsl_device dev = avsl_device_select_or_die(opt_device);    // -d argument, or NULL
 *     avsl_backend be;
 *     if (avsl_backend_open(&be, dev, 0, 0)) die("%s", be.err);
 *     float *x = avsl_backend_alloc(&be, n * sizeof *x);         // device memory (host memory for CPU)
 */
#ifndef AVSL_DEVICE_H
#define AVSL_DEVICE_H

#include <stddef.h>

#include "ops.h"

typedef enum { AVSL_DEV_CPU = 0, AVSL_DEV_CUDA = 1 } avsl_device;

/* "cpu", "cuda" or "auto". Returns 0 and sets *dev and *is_auto (for "auto", *dev = AVSL_DEV_CPU until
 * avsl_device_select resolves it), or -1 for any other string. */
int avsl_device_parse(const char *s, avsl_device *dev, int *is_auto);
const char *avsl_device_name(avsl_device d);

/* 1 if the device can be used, else 0 with the reason in why, e.g.
 *   "avsl was built without CUDA (CUDA=0, or nvcc, cuDNN or cuBLAS not found at build time)"
 *   "no CUDA device: no CUDA-capable device is detected"                                          */
int avsl_backend_available(avsl_device d, char *why, size_t n);

/* The device to use: `name` (the -d argument; NULL when not given), else $AVSL_DEVICE when set and not empty, else
 * "auto". auto = CUDA when available, else CPU. Returns 0; or AVSL_EXIT_USAGE (2) for an unknown name, with
 * "-d: unknown device 'gpu' (expected cpu, cuda or auto)" (or "AVSL_DEVICE: ...") in why; or AVSL_EXIT_ERROR (1)
 * when CUDA was asked for and is not available, with "-d cuda: <reason>" in why. */
int avsl_device_select(const char *name, avsl_device *dev, char *why, size_t n);
/* avsl_device_select, then die_usage (exit 2) or die (exit 1) on error. */
avsl_device avsl_device_select_or_die(const char *name);

/* One device, opened: its op context (kernels/ops.h: stream, handles, workspace). The memory functions below work
 * for both devices (the backend's op_alloc/op_upload/...), so code that moves data does not branch on the device.
 * Not thread-safe: one per thread. */
typedef struct avsl_backend {
	avsl_device dev;
	int index;     /* CUDA device ordinal (0: the current device; others not yet selectable) */
	op_ctx ctx;    /* the op context of the device */
	int open;      /* ctx is initialised */
	char err[256]; /* message of the last failure */
} avsl_backend;

/* Open device index of kind dev (workspace_bytes: unused, the context's workspace grows on demand). Returns 0, or
 * -1 with the reason in b->err (everything already acquired is released). */
int avsl_backend_open(avsl_backend *b, avsl_device dev, int index, size_t workspace_bytes);
void avsl_backend_close(avsl_backend *b);

/* Device memory (64-byte aligned host memory for the CPU). NULL with b->err on failure. */
void *avsl_backend_alloc(avsl_backend *b, size_t bytes);
void avsl_backend_free(avsl_backend *b, void *p);
/* Queued on the backend's stream (immediate for the CPU). Each returns 0, or -1 with b->err set. upload/download
 * read/write host memory that must stay valid until avsl_backend_sync. */
int avsl_backend_memset(avsl_backend *b, void *p, int byte, size_t bytes);
int avsl_backend_upload(avsl_backend *b, void *dst_dev, const void *src_host, size_t bytes);
int avsl_backend_download(avsl_backend *b, void *dst_host, const void *src_dev, size_t bytes);
int avsl_backend_sync(avsl_backend *b);

#endif
