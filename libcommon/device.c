/* device.c: see device.h. */
#include "device.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char no_cuda_build[] =
	"avsl was built without CUDA (CUDA=0, or nvcc, cuDNN or cuBLAS not found at build time)";

int avsl_device_parse(const char *s, avsl_device *dev, int *is_auto)
{
	if (!s)
		return -1;
	if (strcmp(s, "cpu") == 0) {
		*dev = AVSL_DEV_CPU;
		*is_auto = 0;
	} else if (strcmp(s, "cuda") == 0) {
		*dev = AVSL_DEV_CUDA;
		*is_auto = 0;
	} else if (strcmp(s, "auto") == 0) {
		*dev = AVSL_DEV_CPU;
		*is_auto = 1;
	} else {
		return -1;
	}
	return 0;
}

const char *avsl_device_name(avsl_device d) { return d == AVSL_DEV_CUDA ? "cuda" : "cpu"; }

int avsl_backend_available(avsl_device d, char *why, size_t n)
{
	if (d == AVSL_DEV_CPU)
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

int avsl_device_select(const char *name, avsl_device *dev, char *why, size_t n)
{
	const char *src = "-d";
	if (!name) {
		const char *env = getenv("AVSL_DEVICE");
		if (env && *env) {
			name = env;
			src = "AVSL_DEVICE";
		} else {
			name = "auto";
		}
	}
	int is_auto;
	if (avsl_device_parse(name, dev, &is_auto)) {
		snprintf(why, n, "%s: unknown device '%s' (expected cpu, cuda or auto)", src, name);
		return AVSL_EXIT_USAGE;
	}
	char reason[200];
	if (is_auto) {
		*dev = avsl_backend_available(AVSL_DEV_CUDA, reason, sizeof reason) ? AVSL_DEV_CUDA : AVSL_DEV_CPU;
		return 0;
	}
	if (!avsl_backend_available(*dev, reason, sizeof reason)) {
		snprintf(why, n, "%s %s: %s", src, name, reason);
		return AVSL_EXIT_ERROR;
	}
	return 0;
}

avsl_device avsl_device_select_or_die(const char *name)
{
	avsl_device dev;
	char why[256];
	int rc = avsl_device_select(name, &dev, why, sizeof why);
	if (rc == AVSL_EXIT_USAGE)
		die_usage("%s", why);
	if (rc)
		die("%s", why);
	return dev;
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

int avsl_backend_open(avsl_backend *b, avsl_device dev, int index, size_t workspace_bytes)
{
	memset(b, 0, sizeof *b);
	b->dev = dev;
	b->index = index;
	if (dev == AVSL_DEV_CPU)
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
