/* device.c: see device.h. */
#include "device.h"
#include "util.h"

#include <stdarg.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int avsl_device_parse(const char *s, int *kind, int *index)
{
	if (!s)
		return -1;
	*index = 0;
	if (strcmp(s, "cpu") == 0) {
		*kind = OP_DEVICE_CPU;
	} else if (strcmp(s, "auto") == 0) {
		*kind = -1;
	} else if (strcmp(s, "cuda") == 0) {
		*kind = OP_DEVICE_CUDA;
	} else if (strncmp(s, "cuda:", 5) == 0 && s[5] >= '0' && s[5] <= '9' && strlen(s + 5) <= 4 &&
		   strspn(s + 5, "0123456789") == strlen(s + 5)) {
		*kind = OP_DEVICE_CUDA;
		*index = atoi(s + 5);
	} else {
		return -1;
	}
	return 0;
}

static const char expected[] = "expected cpu, cuda, cuda:N or auto";

int avsl_device_list(const char *s, int *ids, const char **why)
{
	if (!s || strncmp(s, "cuda:", 5) != 0 || !strchr(s, ','))
		return 0;
	int n = 0;
	for (const char *p = s + 5;; p++) {
		size_t len = strspn(p, "0123456789");
		if (len == 0 || len > 4 || (p[len] != ',' && p[len])) {
			*why = "expected cuda:N,M,... (GPU ordinals, comma-separated)";
			return -1;
		}
		if (n == AVSL_MAX_GPUS) {
			*why = "more than 16 GPUs";
			return -1;
		}
		ids[n] = atoi(p);
		for (int i = 0; i < n; i++)
			if (ids[i] == ids[n]) {
				*why = "a GPU is listed twice";
				return -1;
			}
		n++;
		p += len;
		if (!*p)
			return n;
	}
}

const char *avsl_device_arg(const char *s)
{
	int kind, index, ids[AVSL_MAX_GPUS];
	const char *why;
	if (avsl_device_list(s, ids, &why) < 0)
		die_usage("--device: bad GPU list '%s': %s", s, why);
	if (avsl_device_list(s, ids, &why) == 0 && avsl_device_parse(s, &kind, &index))
		die_usage("--device: unknown device '%s' (%s)", s, expected);
	return s;
}

int avsl_backend_available(int kind, char *why, size_t n)
{
	if (kind == OP_DEVICE_CPU)
		return 1;
	op_ctx c; /* a trial context: the one test that covers driver, device and libraries alike */
	if (op_ctx_init(&c, OP_DEVICE_CUDA, 1)) {
		snprintf(why, n, "%s", c.err);
		return 0;
	}
	op_ctx_free(&c);
	return 1;
}

static const char *const precision_names[] = {"fp32", "bf16", "tf32", "auto"};
static int precision = -1; /* --precision of this process, -1: not given */

int avsl_precision_parse(const char *s)
{
	for (int i = 0; s && i < (int)(sizeof precision_names / sizeof *precision_names); i++)
		if (strcmp(s, precision_names[i]) == 0)
			return i;
	return -1;
}

void avsl_precision_arg(const char *s)
{
	int p = avsl_precision_parse(s);
	if (p < 0)
		die_usage("--precision: unknown precision '%s' (expected fp32, bf16, tf32 or auto)", s);
	precision = p;
}

void avsl_precision_set(int p)
{
	precision = p;
}

int avsl_cpu_has_bf16(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) /* OSXSAVE: XCR0 readable */
		return 0;
	unsigned lo, hi;
	__asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 0xe6) != 0xe6) /* SSE, AVX and the three AVX-512 state components enabled by the OS */
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || a < 1) /* leaf 7 has subleaf 1 */
		return 0;
	__get_cpuid_count(7, 1, &a, &b, &c, &d);
	return (a >> 5) & 1; /* AVX512_BF16 */
#else
	return 0;
#endif
}

/* d opened: returned when `precision` can run on it, else refused (die, exit 1: one line, before any work).
 * auto says on stderr what it picked. */
static avsl_device *precision_check(avsl_device *d)
{
	int cpu = d->kind == OP_DEVICE_CPU;
	/* no bf16 kernels exist yet: never a silent fp32 run that claims bf16 */
	const char *bf16 = !cpu ? "bf16 CUDA kernels are not implemented yet"
			   : avsl_cpu_has_bf16() ? "bf16 CPU kernels are not implemented yet"
						 : "this CPU has no avx512_bf16 instructions";
	if (precision == AVSL_PRECISION_AUTO)
		fprintf(stderr, "%s: --precision auto: %s on %s (bf16: %s)\n", avsl_progname(), d->tf32 ? "tf32" : "fp32",
			d->name, bf16);
	const char *why = NULL;
	if (precision == AVSL_PRECISION_TF32 && cpu)
		why = "tf32 is a CUDA precision (the device is cpu)";
	else if (precision == AVSL_PRECISION_BF16)
		why = bf16;
	if (!why)
		return d;
	avsl_device_close(d);
	die("--precision %s: %s; use %s", precision_names[precision], why, cpu ? "fp32" : "tf32 or fp32");
}

/* Open kind/index into d (threads, --precision, AVSL_TF32). 0, or -1 with the reason in d->ctx.err. */
static int open_ctx(avsl_device *d, int kind, int index, int threads)
{
	memset(d, 0, sizeof *d);
	const char *tf = getenv("AVSL_TF32");
	d->tf32 = kind == OP_DEVICE_CUDA && (precision == AVSL_PRECISION_TF32 || precision == AVSL_PRECISION_AUTO ||
					     (precision < 0 && tf && strcmp(tf, "1") == 0));
	if (op_ctx_init_on(&d->ctx, kind, index, threads, d->tf32 ? OP_CTX_TF32 : 0))
		return -1;
	d->kind = kind;
	d->index = index;
	d->threads = d->ctx.threads;
	if (kind == OP_DEVICE_CUDA)
		snprintf(d->name, sizeof d->name, "cuda:%d", index);
	else
		snprintf(d->name, sizeof d->name, "cpu");
	return 0;
}

/* The GPUs ids[0..n) of the list `name` (from src: "--device" or "AVSL_DEVICE", sep " " or "="): each opened as
 * -d cuda:N, refused like it; the first becomes d->ctx and stays the calling thread's current device. */
static avsl_device *open_list(const char *src, const char *sep, const char *name, const int *ids, int n, int threads,
			      const char *work, const char *cuda_missing)
{
	avsl_device *d = xcalloc(1, sizeof *d), one;
	char err[sizeof d->ctx.err + 300] = "";
	if (cuda_missing)
		snprintf(err, sizeof err, "CUDA has no implementation of %s yet (missing: %s); use -d cpu", work,
			 cuda_missing);
	else if (open_ctx(d, OP_DEVICE_CUDA, ids[0], threads))
		snprintf(err, sizeof err, "cuda:%d: %s", ids[0], d->ctx.err);
	d->more = xcalloc((size_t)n - 1, sizeof *d->more);
	for (int i = 1; i < n && !err[0]; i++) {
		if (open_ctx(&one, OP_DEVICE_CUDA, ids[i], threads)) {
			snprintf(err, sizeof err, "cuda:%d: %s", ids[i], one.ctx.err);
			op_ctx_free(&one.ctx);
			break;
		}
		d->more[d->n_more++] = one.ctx;
	}
	if (!err[0] && op_ctx_bind(&d->ctx)) /* the opening thread works on the first GPU */
		snprintf(err, sizeof err, "cuda:%d: %s", ids[0], d->ctx.err);
	if (!err[0])
		return precision_check(d);
	avsl_device_close(d);
	die("%s%s%s: %s", src, sep, name, err);
}

static avsl_device *device_open(const char *name, int threads, const char *work, const char *cuda_missing,
				int lists)
{
	const char *src = "--device";
	int given = 1; /* auto asked for (not the built-in default) */
	if (!name) {
		const char *env = getenv("AVSL_DEVICE");
		if (env && *env) {
			name = env;
			src = "AVSL_DEVICE";
		} else {
			name = "auto";
			given = 0;
		}
	}
	int kind, index, ids[AVSL_MAX_GPUS];
	const char *sep = strcmp(src, "--device") == 0 ? " " : "=", *bad;
	int n = avsl_device_list(name, ids, &bad);
	if (n < 0)
		die_usage("%s: bad GPU list '%s': %s", src, name, bad);
	if (n > 0 && !lists)
		die_usage("%s%s%s: %s runs on one device (a GPU list splits the queries of avsl-graph)", src, sep, name,
			  avsl_progname());
	if (n > 0)
		return open_list(src, sep, name, ids, n, threads, work, cuda_missing);
	if (avsl_device_parse(name, &kind, &index))
		die_usage("%s: unknown device '%s' (%s)", src, name, expected);
	avsl_device *d = xcalloc(1, sizeof *d);
	if (kind == -1) {
		/* auto: CUDA when it is usable and the work runs there, else the CPU */
		char why[300];
		if (cuda_missing) {
			snprintf(why, sizeof why, "%s has no CUDA implementation yet (missing: %s)", work, cuda_missing);
		} else if (open_ctx(d, OP_DEVICE_CUDA, 0, threads) == 0) {
			return precision_check(d);
		} else {
			snprintf(why, sizeof why, "%s", d->ctx.err);
		}
		if (given)
			fprintf(stderr, "%s: %s%sauto: %s; using the CPU\n", avsl_progname(), src, sep, why);
		kind = OP_DEVICE_CPU;
	}
	char err[sizeof d->ctx.err + 300] = "";
	if (open_ctx(d, kind, index, threads))
		snprintf(err, sizeof err, "%s", d->ctx.err);
	else if (kind == OP_DEVICE_CUDA && cuda_missing) /* refused before any work, which would hand host memory
							    to device ops */
		snprintf(err, sizeof err, "%s has no implementation of %s yet (missing: %s); use -d cpu", d->name, work,
			 cuda_missing);
	if (!err[0])
		return precision_check(d);
	avsl_device_close(d);
	die("%s%s%s: %s", src, sep, name, err);
}

avsl_device *avsl_device_open(const char *name, int threads, const char *work, const char *cuda_missing)
{
	return device_open(name, threads, work, cuda_missing, 0);
}

avsl_device *avsl_device_open_list(const char *name, int threads, const char *work, const char *cuda_missing)
{
	return device_open(name, threads, work, cuda_missing, 1);
}

const char *avsl_cuda_missing_ops(const op_id *ops, int n, char *buf, size_t cap)
{
	static const char has_cuda[OPID_COUNT] = {
#define X(name, cuda, params, args) cuda,
		OP_LIST(X)
#undef X
	};
	size_t len = 0;
	buf[0] = 0;
	for (int i = 0; i < n; i++)
		if (!has_cuda[ops[i]] && len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "op ", op_name(ops[i]));
	return len ? buf : NULL;
}

void avsl_device_close(avsl_device *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->n_more; i++)
		op_ctx_free(&d->more[i]);
	free(d->more);
	op_ctx_free(&d->ctx);
	free(d);
}
