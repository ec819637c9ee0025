/* explain_tiny.h: the tiny random AVSL model and inputs shared by the explain unit tests (test_explain*.c): a
 * cifar_resnet18 of base width 4 on 16 x 16 gray images, D = 16, with a trained-looking collector. Header-only
 * (static), included by each test binary. */
#ifndef AVSL_TEST_EXPLAIN_TINY_H
#define AVSL_TEST_EXPLAIN_TINY_H
#include "explain.h"
#include "rng.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- a tiny random model --------------------------------------------------------------------------------------- */
enum { TD = 16, TS = 16, TK = 3 };

static explain_model tm;
static avsl_device *tm_dev; /* the CPU, one thread: the model runs on it (kept to the end, as tm) */
static int tm_ready;

static void fill(float *p, size_t n, uint64_t stream, float lo, float hi)
{
	rng r;
	rng_init(&r, 1234, stream);
	for (size_t i = 0; i < n; i++)
		p[i] = lo + (hi - lo) * rng_uniform(&r);
}

static float *tensor_of(model *m, const char *name)
{
	int i = paramset_find(&m->ps, name);
	return i < 0 ? NULL : paramset_data(&m->ps, i);
}

static int tiny_model(void)
{
	if (tm_ready)
		return 0;
	train_config c;
	train_config_init(&c);
	free(c.arch);
	c.arch = xstrdup("cifar_resnet18");
	c.base_width = 4;
	c.channels = 1;
	c.input_size = TS;
	c.resize = 0;
	c.embeddings_dim = TD;
	c.topk_corr = 4;
	c.threads = 1;
	c.mean[0] = 0.25f;
	c.std[0] = 0.5f;
	model m;
	tm_dev = avsl_device_open("cpu", c.threads, "the explain tests", NULL);
	model_create(&m, &c, TK, tm_dev);
	model_init_random(&m, 42);
	/* Trained-looking collector: positive links (so S_hat is not empty) and gates away from 0.5. */
	char name[64];
	for (int t = 0; t < 2; t++) {
		snprintf(name, sizeof name, "collector.links.%d", t);
		fill(tensor_of(&m, name), (size_t)TD * TD, 10 + t, -0.2f, 1.0f);
	}
	for (int l = 0; l < 3; l++) {
		snprintf(name, sizeof name, "collector.prob_coef.%d", l);
		fill(tensor_of(&m, name), TD, 20 + l, 0.5f, 4.0f);
		snprintf(name, sizeof name, "collector.prob_bias.%d", l);
		fill(tensor_of(&m, name), TD, 30 + l, -0.2f, 0.2f);
	}
	explain_model_adopt(&tm, &m, &c);
	tm_ready = 1;
	return 0;
}

/* Free the model and close its device (at the end of main, for LeakSanitizer). */
static void tiny_model_free(void)
{
	if (tm_ready)
		explain_model_free(&tm);
	avsl_device_close(tm_dev);
	tm_dev = NULL;
	tm_ready = 0;
}

/* Two random input images (2, 1, TS, TS). */
static void tiny_inputs(float *x, uint64_t stream)
{
	fill(x, (size_t)2 * TS * TS, stream, -0.5f, 2.0f);
}

#endif
