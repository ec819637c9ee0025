/* Tests of the device handle (libcommon/device.h): the names -d accepts, the CPU handle and its op context, and
 * AVSL_DEVICE / AVSL_TF32 read as defaults. The refusals that exit (unknown name: 2; CUDA unusable or without an
 * implementation: 1) are checked through the tools by tests/cli/device.sh. */
#define _GNU_SOURCE
#include "device.h"
#include "harness.h"
#include "threadpool.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

TEST(parse_names)
{
	int kind = 7, index = 7;
	CHECK(avsl_device_parse("cpu", &kind, &index) == 0 && kind == OP_DEVICE_CPU && index == 0);
	CHECK(avsl_device_parse("cuda", &kind, &index) == 0 && kind == OP_DEVICE_CUDA && index == 0);
	CHECK(avsl_device_parse("cuda:1", &kind, &index) == 0 && kind == OP_DEVICE_CUDA && index == 1);
	CHECK(avsl_device_parse("cuda:15", &kind, &index) == 0 && kind == OP_DEVICE_CUDA && index == 15);
	CHECK(avsl_device_parse("auto", &kind, &index) == 0 && kind == -1);
	static const char *const bad[] = {"gpu", "CUDA", "", "cuda:", "cuda:x", "cuda:-1", "cuda:1x", "cuda:+1",
					  "cuda:99999", "cpu:0", " cpu", "auto "};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECKF(avsl_device_parse(bad[i], &kind, &index) == -1, "'%s' accepted", bad[i]);
	CHECK(avsl_device_parse(NULL, &kind, &index) == -1);
}

TEST(cpu_handle_owns_its_context)
{
	avsl_device *d = avsl_device_open("cpu", 3, "the device tests", NULL);
	CHECK(d->kind == OP_DEVICE_CPU && d->index == 0 && d->threads == 3 && !d->tf32);
	CHECK(strcmp(d->name, "cpu") == 0);
	CHECK(d->ctx.device == OP_DEVICE_CPU && d->ctx.threads == 3 && strcmp(op_backend_name(&d->ctx), "cpu") == 0);
	/* the layout the trunk builds its activations in is the backend's choice */
	CHECK(op_preferred_layout(&d->ctx) == OP_NCHW8C);
	avsl_device_close(d);
	d = avsl_device_open("cpu", 0, "the device tests", NULL); /* 0: every online CPU */
	CHECK(d->threads == avsl_cpu_count() && d->ctx.threads == d->threads);
	avsl_device_close(d);
	avsl_device_close(NULL);
}

/* The CPU runs whatever a tool computes: cuda_missing never stops it. */
TEST(cpu_ignores_what_cuda_lacks)
{
	avsl_device *d = avsl_device_open("cpu", 1, "training", "everything");
	CHECK(d->kind == OP_DEVICE_CPU);
	avsl_device_close(d);
}

static char *saved_env(const char *name)
{
	const char *v = getenv(name);
	return v ? xstrdup(v) : NULL;
}

static void restore_env(const char *name, char *v)
{
	if (v)
		setenv(name, v, 1);
	else
		unsetenv(name);
	free(v);
}

/* AVSL_DEVICE is the default when -d is not given (NULL); an empty one counts as unset. AVSL_TF32 only concerns
 * CUDA: a CPU handle never carries it. */
TEST(environment_is_the_default)
{
	char *dev = saved_env("AVSL_DEVICE"), *tf = saved_env("AVSL_TF32");
	setenv("AVSL_DEVICE", "cpu", 1);
	setenv("AVSL_TF32", "1", 1);
	avsl_device *a = avsl_device_open(NULL, 1, "the device tests", "everything");
	setenv("AVSL_DEVICE", "", 1);
	/* auto with work CUDA lacks: the CPU, silently (the default was not asked for) */
	avsl_device *b = avsl_device_open(NULL, 1, "the device tests", "everything");
	restore_env("AVSL_DEVICE", dev);
	restore_env("AVSL_TF32", tf);
	CHECK(a->kind == OP_DEVICE_CPU && !a->tf32 && !a->ctx.tf32);
	CHECK(b->kind == OP_DEVICE_CPU);
	avsl_device_close(a);
	avsl_device_close(b);
}

/* op_ctx_init_on: the CPU has only device 0; CUDA's refusal names the reason in every build. */
TEST(context_refusals)
{
	op_ctx c;
	CHECK(op_ctx_init_on(&c, OP_DEVICE_CPU, 1, 1, 0) == -1);
	CHECKF(strcmp(c.err, "cpu: no device 1") == 0, "%s", c.err);
	if (op_ctx_init_on(&c, OP_DEVICE_CUDA, 0, 1, OP_CTX_TF32) == 0) { /* a machine with a GPU */
		CHECK(c.tf32 == 1 && c.index == 0);
		op_ctx_free(&c);
	} else {
		CHECKF(strstr(c.err, "CUDA") != NULL && strchr(c.err, '\n') == NULL, "%s", c.err);
	}
}

int main(void)
{
	RUN(parse_names);
	RUN(cpu_handle_owns_its_context);
	RUN(cpu_ignores_what_cuda_lacks);
	RUN(environment_is_the_default);
	RUN(context_refusals);
	return harness_finish();
}
