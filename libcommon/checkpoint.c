/* checkpoint.c: see checkpoint.h. */
#include "checkpoint.h"
#include "cli.h"
#include "json.h"
#include "safetensors.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const group_key[PG_COUNT] = {NULL, "avsl.optim_step.trunk", "avsl.optim_step.embedder",
						"avsl.optim_step.collector"};

/* Metadata values are owned by this small table until the writer has written them. */
typedef struct {
	st_writer *w;
	char *vals[64];
	int n;
} meta_sink;

static void meta(meta_sink *s, const char *key, char *val_owned)
{
	if (s->n == (int)(sizeof s->vals / sizeof s->vals[0]))
		die("internal error: too many checkpoint metadata entries");
	s->vals[s->n++] = val_owned;
	st_writer_meta(s->w, key, val_owned);
}

static char *input_json(const train_config *c)
{
	return xasprintf("{\"size\":%d,\"resize\":%d,\"channels\":%d,\"mean\":[%.9g,%.9g,%.9g],"
			 "\"std\":[%.9g,%.9g,%.9g]}",
			 c->input_size, c->resize, c->channels, c->mean[0], c->mean[1], c->mean[2], c->std[0],
			 c->std[1], c->std[2]);
}

void checkpoint_save(const char *path, const model *m, const adamw *opt, const train_config *c,
		     const train_state *st)
{
	st_writer *w = st_writer_new();
	meta_sink ms = {.w = w};
	const paramset *ps = &m->ps;
	char **names = xcalloc((size_t)ps->n * 2, sizeof *names);
	for (int i = 0; i < ps->n; i++) {
		const param_info *p = &ps->info[i];
		if (!p->persistent)
			continue;
		tensor t = paramset_tensor(ps, i, 0);
		st_writer_add(w, p->name, ST_F32, t.ndim, t.shape, t.data);
		if (opt && p->trainable) {
			names[2 * i] = xasprintf("optim.m.%s", p->name);
			names[2 * i + 1] = xasprintf("optim.v.%s", p->name);
			st_writer_add(w, names[2 * i], ST_F32, p->ndim, p->shape, opt->m + p->offset);
			st_writer_add(w, names[2 * i + 1], ST_F32, p->ndim, p->shape, opt->v + p->offset);
		}
	}
	meta(&ms, "avsl.format_version", xstrdup("1.0"));
	meta(&ms, "avsl.setting", xstrdup(m->setting == SETTING_AVSL ? "avsl_proxyanchor" : "proxy_anchor"));
	meta(&ms, "avsl.arch", xstrdup(train_config_arch(c)));
	meta(&ms, "avsl.num_classes", xasprintf("%d", m->K));
	meta(&ms, "avsl.input", input_json(c));
	meta(&ms, "avsl.config", train_config_to_json(c));
	meta(&ms, "avsl.seed", xasprintf("%llu", (unsigned long long)c->seed));
	if (m->avsl) {
		const char *key[5];
		char val[5][32];
		int n = avsl_head_metadata(&m->acfg, key, val);
		for (int i = 0; i < n; i++)
			meta(&ms, key[i], xstrdup(val[i]));
		meta(&ms, "avsl.avsl_m", xasprintf("%.9g", m->acfg.avsl_m));
		meta(&ms, "avsl.links_initialised", xasprintf("%d", avsl_head_links_initialised(m->avsl)));
	} else {
		meta(&ms, "avsl.levels", xstrdup("1"));
		meta(&ms, "avsl.embeddings_dim", xasprintf("%d", m->D));
	}
	if (st) {
		meta(&ms, "avsl.epoch", xasprintf("%d", st->epoch));
		meta(&ms, "avsl.step", xasprintf("%lld", (long long)st->step));
		meta(&ms, "avsl.batch_in_epoch", xasprintf("%d", st->batch_in_epoch));
		meta(&ms, "avsl.best_recall1", xasprintf("%.17g", st->best_recall1));
		meta(&ms, "avsl.best_epoch", xasprintf("%d", st->best_epoch));
		meta(&ms, "avsl.bad_epochs", xasprintf("%d", st->bad_epochs));
	}
	if (opt)
		for (int g = 1; g < PG_COUNT; g++)
			meta(&ms, group_key[g], xasprintf("%lld", (long long)opt->group[g].step));

	out_file o;
	out_open(&o, path, 1);
	fmt_error err;
	if (st_writer_write(w, o.fp, path, &err)) {
		out_abort(&o);
		die("%s", err.msg);
	}
	out_commit(&o);
	st_writer_free(w);
	for (int i = 0; i < ms.n; i++)
		free(ms.vals[i]);
	for (int i = 0; i < 2 * ps->n; i++)
		free(names[i]);
	free(names);
}

static void open_or_die(st_file *f, const char *path)
{
	fmt_error err;
	if (st_open(f, path, &err) || st_check_avsl_version(f, &err))
		die("%s", err.msg);
}

/* A summary key must say what the configuration says (numbers compared as numbers: a hand-written "0.50" agrees
 * with 0.5). want is the value derived from avsl.config, rendered as the writer renders it. */
static void agree_str(const st_file *f, const char *key, const char *want, int required)
{
	const char *v = st_meta(f, key);
	if (!v) {
		if (required)
			die("%s: __metadata__.%s: missing", f->path, key);
		return;
	}
	if (strcmp(v, want) != 0)
		die("%s: __metadata__.%s: '%.40s' contradicts avsl.config ('%s')", f->path, key, v, want);
}

static void agree_num(const st_file *f, const char *key, double want, int required)
{
	const char *v = st_meta(f, key);
	if (!v) {
		if (required)
			die("%s: __metadata__.%s: missing", f->path, key);
		return;
	}
	double got;
	const char *why;
	if (parse_double(v, -1e300, 1e300, &got, &why))
		die("%s: __metadata__.%s: '%.40s': %s", f->path, key, v, why);
	/* the writer prints floats with 9 significant digits: equal up to that rounding */
	if (fabs(got - want) > 1e-8 * fmax(1.0, fabs(want)))
		die("%s: __metadata__.%s: %.9g contradicts avsl.config (%.9g)", f->path, key, got, want);
}

/* avsl.input: {"size","resize","channels","mean":[3],"std":[3]} must match the configuration's input fields. */
static void agree_input(const st_file *f, const train_config *c)
{
	const char *v = st_meta(f, "avsl.input");
	if (!v)
		return;
	char why[160];
	json_value *root = json_parse(v, strlen(v), why, sizeof why);
	if (!root)
		die("%s: __metadata__.avsl.input: %s", f->path, why);
	const char *bad = NULL;
	const json_value *x;
	double want[3] = {c->input_size, c->resize, c->channels};
	static const char *const scalar[3] = {"size", "resize", "channels"};
	for (int i = 0; i < 3 && !bad; i++)
		if (!(x = json_get(root, scalar[i])) || x->type != JSON_NUMBER || x->num != want[i])
			bad = scalar[i];
	for (int k = 0; k < 2 && !bad; k++) {
		const char *name = k ? "std" : "mean";
		const float *cv = k ? c->std : c->mean;
		if (!(x = json_get(root, name)) || x->type != JSON_ARRAY || x->n != 3) {
			bad = name;
			break;
		}
		for (int i = 0; i < 3; i++)
			if (x->items[i].type != JSON_NUMBER || fabs(x->items[i].num - cv[i]) > 1e-6 * fmax(1.0, fabs(cv[i])))
				bad = name;
	}
	json_free(root);
	if (bad)
		die("%s: __metadata__.avsl.input: '%s' contradicts avsl.config", f->path, bad);
}

void checkpoint_config_from(const st_file *f, train_config *c)
{
	fmt_error err;
	if (st_check_avsl_version(f, &err))
		die("%s", err.msg);
	const char *json = st_meta(f, "avsl.config");
	if (!json)
		die("%s: __metadata__.avsl.config: missing (not an avsl checkpoint; ImageNet weights go to --init)",
		    f->path);
	char why[256];
	train_config_free(c); /* from_json starts from the defaults again */
	if (train_config_from_json(c, json, why, sizeof why))
		die("%s: __metadata__.avsl.config: %s", f->path, why);
	/* what no reader can work with, whatever the summary keys say */
	if (c->embeddings_dim < 1)
		die("%s: __metadata__.avsl.config: embeddings_dim %d", f->path, c->embeddings_dim);
	if (c->setting == SETTING_AVSL && (c->topk_corr < 1 || c->topk_corr > c->embeddings_dim))
		die("%s: __metadata__.avsl.config: topk_corr %d outside [1, embeddings_dim %d]", f->path, c->topk_corr,
		    c->embeddings_dim);
	for (int i = 0; i < 3; i++)
		if (!(c->std[i] > 0) || !isfinite(c->std[i]) || !isfinite(c->mean[i]))
			die("%s: __metadata__.avsl.config: input mean/std [%d] = %g/%g (std must be finite and > 0)", f->path,
			    i, c->mean[i], c->std[i]);
	int avsl = c->setting == SETTING_AVSL;
	agree_str(f, "avsl.setting", avsl ? "avsl_proxyanchor" : "proxy_anchor", 1);
	agree_str(f, "avsl.arch", train_config_arch(c), 0);
	agree_num(f, "avsl.levels", avsl ? MODEL_LEVELS : 1, avsl);
	agree_num(f, "avsl.embeddings_dim", c->embeddings_dim, avsl);
	if (avsl) {
		agree_num(f, "avsl.topk_corr", c->topk_corr, 1);
		agree_num(f, "avsl.prob_gamma", (float)c->prob_gamma, 1);
		agree_num(f, "avsl.index_p", (float)c->index_p, 1);
		agree_num(f, "avsl.avsl_m", (float)c->avsl_m, 0);
	}
	agree_num(f, "avsl.seed", (double)c->seed, 0);
	agree_input(f, c);
}

void checkpoint_read_config(const char *path, train_config *c)
{
	st_file f;
	fmt_error err;
	if (st_open(&f, path, &err))
		die("%s", err.msg);
	checkpoint_config_from(&f, c);
	st_close(&f);
}

void checkpoint_collector_config(const train_config *c, avsl_head_config *a)
{
	memset(a, 0, sizeof *a);
	a->levels = MODEL_LEVELS;
	a->D = c->embeddings_dim;
	a->topk = c->topk_corr;
	a->prob_gamma = (float)c->prob_gamma;
	a->index_p = (float)c->index_p;
	a->avsl_m = (float)c->avsl_m;
}

static int64_t meta_int(const st_file *f, const char *key, int64_t lo, int64_t hi)
{
	int64_t v;
	fmt_error err;
	if (st_meta_int(f, key, lo, hi, &v, &err))
		die("%s", err.msg);
	return v;
}

void checkpoint_load(const char *path, const train_config *c, model *m, adamw *opt, train_state *st,
		     avsl_device *dev)
{
	st_file f;
	open_or_die(&f, path);
	const char *setting = st_meta(&f, "avsl.setting");
	const char *want = c->setting == SETTING_AVSL ? "avsl_proxyanchor" : "proxy_anchor";
	if (!setting || strcmp(setting, want) != 0)
		die("%s: __metadata__.avsl.setting: '%s', expected '%s'", path, setting ? setting : "(missing)", want);
	int K = (int)meta_int(&f, "avsl.num_classes", 1, 1 << 24);
	model_create(m, c, K, dev);
	fmt_error err;
	const paramset *ps = &m->ps;
	for (int i = 0; i < ps->n; i++) {
		const param_info *p = &ps->info[i];
		if (!p->persistent)
			continue;
		if (st_load_f32(&f, p->name, p->ndim, p->shape, ps->data + p->offset, &err))
			die("%s", err.msg);
	}
	if (m->avsl)
		avsl_head_set_links_initialised(m->avsl, (int)meta_int(&f, "avsl.links_initialised", 0, 1));
	if (opt) {
		adamw_init(opt, &m->ps);
		char name[160];
		for (int i = 0; i < ps->n; i++) {
			const param_info *p = &ps->info[i];
			if (!p->trainable)
				continue;
			snprintf(name, sizeof name, "optim.m.%s", p->name);
			if (st_load_f32(&f, name, p->ndim, p->shape, opt->m + p->offset, &err))
				die("%s (was the checkpoint saved without optimiser state?)", err.msg);
			snprintf(name, sizeof name, "optim.v.%s", p->name);
			if (st_load_f32(&f, name, p->ndim, p->shape, opt->v + p->offset, &err))
				die("%s", err.msg);
		}
		for (int g = 1; g < PG_COUNT; g++)
			opt->group[g].step = meta_int(&f, group_key[g], 0, INT64_MAX);
	}
	if (st) {
		st->epoch = (int)meta_int(&f, "avsl.epoch", 0, 1 << 30);
		st->step = meta_int(&f, "avsl.step", 0, INT64_MAX);
		st->batch_in_epoch = (int)meta_int(&f, "avsl.batch_in_epoch", 0, 1 << 30);
		st->best_epoch = (int)meta_int(&f, "avsl.best_epoch", -1, 1 << 30);
		st->bad_epochs = (int)meta_int(&f, "avsl.bad_epochs", 0, 1 << 30);
		if (st_meta_double(&f, "avsl.best_recall1", -1, 1, &st->best_recall1, &err))
			die("%s", err.msg);
	}
	st_close(&f);
}
