/* device.c: see device.h. */
#include "device.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char no_cuda_build[] =
	"avsl was built without CUDA (CUDA=0, or nvcc, cuDNN or cuBLAS not found at build time)";

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
	if (!avsl_cuda_api) {
		snprintf(why, n, "%s", no_cuda_build);
		return 0;
	}
	int count = 0, rc = avsl_cuda_api->device_count(&count);
	if (rc) {
		snprintf(why, n, "no CUDA device: %s", avsl_cuda_api->error_string(rc));
		return 0;
	}
	if (count < 1) {
		snprintf(why, n, "no CUDA device: the driver reports none");
		return 0;
	}
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

void avsl_device_close(avsl_device *d)
{
	if (!d)
		return;
	op_ctx_free(&d->ctx);
	free(d);
}

static int fail(avsl_backend *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(avsl_backend *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof b->err, fmt, ap);
	va_end(ap);
	return -1;
}

int avsl_backend_open(avsl_backend *b, int dev, int index, size_t workspace_bytes)
{
	memset(b, 0, sizeof *b);
	b->dev = dev;
	b->index = index;
	if (dev == OP_DEVICE_CPU)
		return 0;
	char why[200];
	if (!avsl_backend_available(dev, why, sizeof why))
		return fail(b, "%s", why);
	const avsl_device_api *api = avsl_cuda_api;
	int rc;
	if ((rc = api->set_device(index)))
		return fail(b, "CUDA device %d: %s", index, api->error_string(rc));
	if ((rc = api->stream_create(&b->stream)))
		return fail(b, "CUDA device %d: creating a stream: %s", index, api->error_string(rc));
	if ((rc = api->ctx_create(&b->ctx, b->stream, workspace_bytes))) {
		api->stream_destroy(b->stream);
		b->stream = NULL;
		return fail(b, "CUDA device %d: creating the op context (%zu MiB workspace): %s", index,
			    (workspace_bytes ? workspace_bytes : (size_t)256 << 20) >> 20, api->error_string(rc));
	}
	b->api = api;
	return 0;
}

void avsl_backend_close(avsl_backend *b)
{
	if (b->api) {
		b->api->stream_synchronize(b->stream);
		b->api->ctx_destroy(b->ctx);
		b->api->stream_destroy(b->stream);
	}
	memset(b, 0, sizeof *b);
}

void *avsl_backend_alloc(avsl_backend *b, size_t bytes)
{
	void *p = NULL;
	if (!b->api) {
		size_t rounded = (bytes + 63) & ~(size_t)63;
		if (rounded < bytes || !(p = aligned_alloc(64, rounded ? rounded : 64)))
			fail(b, "out of memory allocating %zu bytes", bytes);
		return p;
	}
	int rc = b->api->alloc(&p, bytes);
	if (rc) {
		fail(b, "CUDA device %d: allocating %zu bytes: %s", b->index, bytes, b->api->error_string(rc));
		return NULL;
	}
	return p;
}

void avsl_backend_free(avsl_backend *b, void *p)
{
	if (!b->api)
		free(p);
	else if (p)
		b->api->free(p);
}

static int check(avsl_backend *b, int rc, const char *what, size_t bytes)
{
	if (!rc)
		return 0;
	return fail(b, "CUDA device %d: %s of %zu bytes: %s", b->index, what, bytes, b->api->error_string(rc));
}

int avsl_backend_memset(avsl_backend *b, void *p, int byte, size_t bytes)
{
	if (!b->api) {
		memset(p, byte, bytes);
		return 0;
	}
	return check(b, b->api->memset_async(p, byte, bytes, b->stream), "memset", bytes);
}

int avsl_backend_upload(avsl_backend *b, void *dst, const void *src, size_t bytes)
{
	if (!b->api) {
		memmove(dst, src, bytes);
		return 0;
	}
	return check(b, b->api->copy_h2d_async(dst, src, bytes, b->stream), "upload", bytes);
}

int avsl_backend_download(avsl_backend *b, void *dst, const void *src, size_t bytes)
{
	if (!b->api) {
		memmove(dst, src, bytes);
		return 0;
	}
	return check(b, b->api->copy_d2h_async(dst, src, bytes, b->stream), "download", bytes);
}

int avsl_backend_sync(avsl_backend *b)
{
	if (!b->api)
		return 0;
	int rc = b->api->stream_synchronize(b->stream);
	if (rc)
		return fail(b, "CUDA device %d: %s", b->index, b->api->error_string(rc));
	return 0;
}
