/* device.h: the device a tool computes on, opened once and passed down. Chosen by `-d DEV` (every tool has the same
 * option, parsed here), else $AVSL_DEVICE, else auto. This file is the only place that reads AVSL_DEVICE and
 * AVSL_TF32.
 *
 *     avsl_device *dev = avsl_device_open(opt_device, threads, "training", "the heads, loss and optimiser");
 *     model_create(&m, &cfg, K, dev);   // every op of the tool runs on dev->ctx
 *     ...
 *     avsl_device_close(dev);
 *
 * No CUDA type appears here or in anything it includes: the op context (kernels/ops.h) is opaque, so this header and
 * every tool are the same in builds with and without CUDA; asking for CUDA in a CPU-only build fails with a message,
 * never at link time.
 */
#ifndef AVSL_DEVICE_H
#define AVSL_DEVICE_H

#include <stddef.h>

#include "ops.h"

/* The --help line of -d, the same in every tool (man/avsl.7 and each page's -d entry say the same). */
#define AVSL_DEVICE_HELP "  -d, --device DEV       cpu, cuda, cuda:N or auto (default: $AVSL_DEVICE, else auto)\n"
/* The --help line of --precision (avsl-train, avsl-embed, avsl-graph; avsl(7) gives the semantics). */
#define AVSL_PRECISION_HELP "      --precision P      fp32, bf16, tf32 or auto: arithmetic of convolutions and GEMMs (fp32)\n"

/* --precision: fp32 (the default, the official numerics), bf16 (bf16 convolutions and GEMMs, fp32 accumulation and
 * everything else fp32), tf32 (CUDA TF32 tensor cores: OP_CTX_TF32, what AVSL_TF32=1 asks for), auto (the fastest
 * the device offers that this build implements, said on stderr). */
enum { AVSL_PRECISION_FP32, AVSL_PRECISION_BF16, AVSL_PRECISION_TF32, AVSL_PRECISION_AUTO };
/* AVSL_PRECISION_* of a name, or -1. */
int avsl_precision_parse(const char *s);
/* The precision avsl_device_open applies (AVSL_PRECISION_*; -1, the initial value: not given, AVSL_TF32 decides
 * TF32 on CUDA). Set by the option parsers: avsl_precision_arg (die_usage, exit 2, on an unknown name) or
 * avsl_precision_set. avsl_device_open refuses, in one line and exit 1 before any work, a precision the device or
 * this build cannot give: tf32 on the CPU; bf16 on a CPU without avx512_bf16, and (no bf16 kernels yet) anywhere. */
void avsl_precision_arg(const char *s);
void avsl_precision_set(int precision);
/* 1 when this CPU and OS run AVX-512 BF16 instructions (cpuid leaf 7 subleaf 1 EAX bit 5, AVX-512 state enabled in
 * XCR0), else 0. */
int avsl_cpu_has_bf16(void);

/* One opened device. */
typedef struct avsl_device {
	int kind;       /* OP_DEVICE_CPU or OP_DEVICE_CUDA */
	int index;      /* CUDA device ordinal; 0 for the CPU */
	int threads;    /* CPU threads of the ops (>= 1) */
	int tf32;       /* AVSL_TF32=1 when opened: CUDA convolutions and GEMMs may use TF32 tensor cores */
	char name[16];  /* "cpu" or "cuda:N", for messages */
	op_ctx ctx;     /* the one op context of the tool: every op runs on it (owned) */
	/* -d cuda:N,M,... (avsl_device_open_list only): the further GPUs of the list, each with a context of its own
	 * (same threads and precision), which a tool that splits its work hands to its worker threads (op_ctx_bind);
	 * ctx is the list's first GPU and the current device of the opening thread. */
	int n_more;
	op_ctx *more;   /* (n_more) owned */
} avsl_device;

/* A device name: "cpu", "cuda" (= "cuda:0"), "cuda:N" or "auto". Returns 0 with *kind (OP_DEVICE_CPU,
 * OP_DEVICE_CUDA, or -1 for auto) and *index, or -1 for anything else. */
int avsl_device_parse(const char *s, int *kind, int *index);
enum { AVSL_MAX_GPUS = 16 };
/* A GPU list "cuda:N,M,..." (at least two distinct ordinals, at most AVSL_MAX_GPUS): their ordinals into ids and
 * their count; 0 when s is no list (a plain name: avsl_device_parse); -1 with *why for a malformed list. */
int avsl_device_list(const char *s, int *ids, const char **why);
/* The -d argument checked at option-parsing time: returns it, or die_usage (exit 2) naming it. */
const char *avsl_device_arg(const char *s);

/* Open the device `name` (the -d argument; NULL: $AVSL_DEVICE when set and not empty, else "auto") with `threads`
 * CPU threads (<= 0: all online CPUs), for a tool computing `work` ("training", ...). cuda_missing names what of
 * that work has no CUDA implementation yet (NULL: all of it runs on CUDA). Never returns on failure:
 *   - an unknown name: die_usage (exit 2), "--device: unknown device 'gpu' (expected cpu, cuda, cuda:N or auto)";
 *   - CUDA asked for and not usable: die (exit 1) with the reason, e.g. "--device cuda: avsl was built without
 *     CUDA (...)", "--device cuda:1: CUDA: no device 1 (1 found, numbered from 0)", "AVSL_DEVICE=cuda: CUDA: no
 *     usable device: CUDA driver version is insufficient for CUDA runtime version";
 *   - CUDA asked for and cuda_missing set: die (exit 1), "--device cuda: cuda:0 has no implementation of
 *     training yet (missing: ...); use -d cpu".
 * auto takes CUDA when a device is usable and the work runs there, else the CPU; an auto that was asked for
 * (-d auto, AVSL_DEVICE=auto) says on stderr why it falls back, the default one is silent. */
avsl_device *avsl_device_open(const char *name, int threads, const char *work, const char *cuda_missing);
/* avsl_device_open for a tool that splits its work over several GPUs: name may also be a list "cuda:N,M,..."
 * (avsl_device_list); each GPU is opened as -d cuda:N would be (the same refusals, naming it). A list given to
 * avsl_device_open is a usage error (exit 2): that tool runs on one device. */
avsl_device *avsl_device_open_list(const char *name, int threads, const char *work, const char *cuda_missing);
void avsl_device_close(avsl_device *d);

/* The ops of ops[0..n) that the CUDA backend has no implementation of (op_list.h's flag, which kernels/cuda/table.cu
 * is expanded from), as "op a, b, c" in buf (for avsl_device_open's cuda_missing); NULL when it has them all. */
const char *avsl_cuda_missing_ops(const op_id *ops, int n, char *buf, size_t cap);

/* 1 if a device of kind (OP_DEVICE_*) can be used, else 0 with the reason in why, e.g.
 *   "avsl was built without CUDA (CUDA=0, or nvcc, cuDNN or cuBLAS not found at build time)"
 *   "CUDA: no usable device: no CUDA-capable device is detected"                                  */
int avsl_backend_available(int kind, char *why, size_t n);

#endif
