/* device.c: see device.h. */
#include "device.h"
#include "util.h"

#include <stdarg.h>
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

const char *avsl_device_arg(const char *s)
{
	int kind, index;
	if (avsl_device_parse(s, &kind, &index))
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

/* Open kind/index into d (threads, AVSL_TF32). 0, or -1 with the reason in d->ctx.err. */
static int open_ctx(avsl_device *d, int kind, int index, int threads)
{
	memset(d, 0, sizeof *d);
	const char *tf = getenv("AVSL_TF32");
	d->tf32 = kind == OP_DEVICE_CUDA && tf && strcmp(tf, "1") == 0;
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

avsl_device *avsl_device_open(const char *name, int threads, const char *work, const char *cuda_missing)
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
	int kind, index;
	if (avsl_device_parse(name, &kind, &index))
		die_usage("%s: unknown device '%s' (%s)", src, name, expected);
	const char *sep = strcmp(src, "--device") == 0 ? " " : "=";
	avsl_device *d = xcalloc(1, sizeof *d);
	if (kind == -1) {
		/* auto: CUDA when it is usable and the work runs there, else the CPU */
		char why[300];
		if (cuda_missing) {
			snprintf(why, sizeof why, "%s has no CUDA implementation yet (missing: %s)", work, cuda_missing);
		} else if (open_ctx(d, OP_DEVICE_CUDA, 0, threads) == 0) {
			return d;
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
		return d;
	avsl_device_close(d);
	die("%s%s%s: %s", src, sep, name, err);
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
	op_ctx_free(&d->ctx);
	free(d);
}
