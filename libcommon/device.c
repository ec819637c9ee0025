/* device.c: see device.h. */
#include "device.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	op_ctx c; /* a trial context: the one test that covers driver, device and libraries alike */
	if (op_ctx_init(&c, OP_DEVICE_CUDA, 1)) {
		snprintf(why, n, "%s", c.err);
		return 0;
	}
	op_ctx_free(&c);
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
	char reason[256];
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
	(void)workspace_bytes;
	memset(b, 0, sizeof *b);
	b->dev = dev;
	b->index = index;
	if (index != 0)
		return fail(b, "CUDA device %d: only device 0 can be opened", index);
	if (op_ctx_init(&b->ctx, dev == AVSL_DEV_CUDA ? OP_DEVICE_CUDA : OP_DEVICE_CPU, 0))
		return fail(b, "%s", b->ctx.err);
	b->open = 1;
	return 0;
}

void avsl_backend_close(avsl_backend *b)
{
	if (b->open)
		op_ctx_free(&b->ctx);
	memset(b, 0, sizeof *b);
}

/* 0, or -1 with the context's reason in b->err. */
static int check(avsl_backend *b, int rc)
{
	return rc ? fail(b, "%s", b->ctx.err) : 0;
}

void *avsl_backend_alloc(avsl_backend *b, size_t bytes)
{
	void *p = NULL;
	check(b, op_alloc(&b->ctx, &p, bytes));
	return p;
}

void avsl_backend_free(avsl_backend *b, void *p) { op_free(&b->ctx, p); }

int avsl_backend_memset(avsl_backend *b, void *p, int byte, size_t bytes)
{
	return check(b, op_memset(&b->ctx, p, byte, bytes));
}

int avsl_backend_upload(avsl_backend *b, void *dst, const void *src, size_t bytes)
{
	return check(b, op_upload(&b->ctx, dst, src, bytes));
}

int avsl_backend_download(avsl_backend *b, void *dst, const void *src, size_t bytes)
{
	return check(b, op_download(&b->ctx, dst, src, bytes));
}

int avsl_backend_sync(avsl_backend *b) { return check(b, op_ctx_sync(&b->ctx)); }
