/* train_config.c: see train_config.h. One table (tc_opts) drives the parser here and the JSON writer and reader
 * in train_config_json.c. */
#define _GNU_SOURCE
#include "train_config.h"
#include "train_config_impl.h"
#include "cli.h"
#include "device.h"
#include "optim.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define OFF(f) offsetof(train_config, f)
#define BIG 1e9

const opt_def tc_opts[] = {
	/* official */
	{"data_path", T_STR, OFF(data_path), 0, 0, 0, 0, 0, 0},
	{"save_path", T_STR, OFF(save_path), 0, 0, 0, 0, 0, 0},
	{"save_name", T_STR, OFF(save_name), 0, 0, 0, 0, 0, 0},
	{"delete_old", T_FLAG, OFF(delete_old), 0, 0, 0, 0, 0, 0},
	{"device", T_SPECIAL, 0, 0, 1, TC_MAX_GPUS, 0, 0, 0},
	{"batch_size", T_INT, OFF(batch_size), 0, 0, 0, 2, 1000000, 0},
	{"test_batch_size", T_INT, OFF(test_batch_size), 0, 0, 0, 1, 1000000, 0},
	{"setting", T_SPECIAL, 0, 0, 1, 1, 0, 0, 0},
	{"dataset", T_STR, OFF(dataset), 0, 0, 0, 0, 0, 0},
	{"model", T_SPECIAL, 0, 0, 1, 1, 0, 0, 0},
	{"feature_dim_list", T_INTS, OFF(feature_dim_list), NOCNT, 3, 3, 1, 1 << 20, 0},
	{"embeddings_dim", T_INT, OFF(embeddings_dim), 0, 0, 0, 1, 1 << 20, 0},
	{"avsl_m", T_DBL, OFF(avsl_m), 0, 0, 0, 0, 1, 0},
	{"topk_corr", T_INT, OFF(topk_corr), 0, 0, 0, 1, 1 << 20, 0},
	{"prob_gamma", T_DBL, OFF(prob_gamma), 0, 0, 0, -BIG, BIG, 0},
	{"index_p", T_DBL, OFF(index_p), 0, 0, 0, 1e-6, 1e6, 0},
	{"pa_pos_margin", T_DBL, OFF(pa_pos_margin), 0, 0, 0, -BIG, BIG, 0},
	{"pa_neg_margin", T_DBL, OFF(pa_neg_margin), 0, 0, 0, -BIG, BIG, 0},
	{"pa_alpha", T_DBL, OFF(pa_alpha), 0, 0, 0, 0, 1e6, 0},
	{"final_pa_pos_margin", T_DBL, OFF(final_pa_pos_margin), 0, 0, 0, -BIG, BIG, 0},
	{"final_pa_neg_margin", T_DBL, OFF(final_pa_neg_margin), 0, 0, 0, -BIG, BIG, 0},
	{"final_pa_alpha", T_DBL, OFF(final_pa_alpha), 0, 0, 0, 0, 1e6, 0},
	{"loss0_weight", T_DBL, OFF(loss_weight[0]), 0, 0, 0, 0, BIG, 0},
	{"loss1_weight", T_DBL, OFF(loss_weight[1]), 0, 0, 0, 0, BIG, 0},
	{"loss2_weight", T_DBL, OFF(loss_weight[2]), 0, 0, 0, 0, BIG, 0},
	{"num_classes", T_INT, OFF(num_classes), 0, 0, 0, 0, 100000000, 0},
	{"use_proxy", T_FLAG, OFF(use_proxy), 0, 0, 0, 0, 0, 0},
	{"wd", T_DBL, OFF(wd), 0, 0, 0, 0, BIG, 0},
	{"gamma", T_DBL, OFF(gamma), 0, 0, 0, 0, BIG, 0},
	{"step", T_INT, OFF(step), 0, 0, 0, 1, 1000000, 0},
	{"lr_trunk", T_DBL, OFF(lr_trunk), 0, 0, 0, 0, BIG, 0},
	{"lr_embedder", T_DBL, OFF(lr_embedder), 0, 0, 0, 0, BIG, 0},
	{"lr_collector", T_DBL, OFF(lr_collector), 0, 0, 0, 0, BIG, 0},
	{"warm_up", T_INT, OFF(warm_up), 0, 0, 0, 0, 1000000, 0},
	{"warm_up_list", T_SPECIAL, 0, 0, 0, 3, 0, 0, 0},
	{"splits_to_eval", T_SPECIAL, 0, 0, 0, 2, 0, 0, 0},
	{"not_freeze_bn", T_FLAG, OFF(not_freeze_bn), 0, 0, 0, 0, 0, 0},
	{"test_split_num", T_INT, OFF(test_split_num), 0, 0, 0, 1, 100000000, 0},
	{"interval", T_INT, OFF(interval), 0, 0, 0, 1, 1000000, 0},
	{"k_list", T_INTS, OFF(k_list), OFF(n_k_list), 1, TC_MAX_LIST, 1, 100000000, 0},
	{"k", T_INT, OFF(k), 0, 0, 0, 0, 100000000, 0},
	{"eval_exclude", T_SPECIAL, 0, 0, 0, TC_MAX_LIST, 0, 0, 0},
	{"proxyanchor_margin", T_DBL, OFF(proxyanchor_margin), 0, 0, 0, -BIG, BIG, 0},
	{"proxyanchor_alpha", T_DBL, OFF(proxyanchor_alpha), 0, 0, 0, 0, 1e6, 0},
	/* avsl's own */
	{"epochs", T_INT, OFF(epochs), 0, 0, 0, 1, 1000000, 0},
	{"seed", T_U64, OFF(seed), 0, 0, 0, 0, 0, 0},
	{"threads", T_INT, OFF(threads), 0, 0, 0, 0, 4096, 0},
	{"init", T_STR, OFF(init), 0, 0, 0, 0, 0, 0},
	{"resume", T_STR, OFF(resume), 0, 0, 0, 0, 0, O_NOSAVE},
	{"out", T_STR, OFF(out), 0, 0, 0, 0, 0, 0},
	{"input_size", T_INT, OFF(input_size), 0, 0, 0, 1, 65536, 0},
	{"resize", T_INT, OFF(resize), 0, 0, 0, 0, 65536, 0},
	{"crop_scale", T_DBLS, OFF(crop_scale), NOCNT, 2, 2, 1e-6, 1, 0},
	{"crop_ratio", T_DBLS, OFF(crop_ratio), NOCNT, 2, 2, 1e-3, 1e3, 0},
	{"mean", T_FLTS, OFF(mean), NOCNT, 1, 3, -BIG, BIG, 0},
	{"std", T_FLTS, OFF(std), NOCNT, 1, 3, 1e-6, BIG, 0},
	{"channels", T_INT, OFF(channels), 0, 0, 0, 1, 3, 0},
	{"arch", T_SPECIAL, 0, 0, 1, 1, 0, 0, 0},
	{"base_width", T_INT, OFF(base_width), 0, 0, 0, 1, 4096, 0},
	{"eval_data", T_STR, OFF(eval_data), 0, 0, 0, 0, 0, 0},
	{"log_every", T_INT, OFF(log_every), 0, 0, 0, 0, 100000000, 0},
	{"patience", T_INT, OFF(patience), 0, 0, 0, 0, 1000000, 0},
	{"clip_grad", T_SPECIAL, 0, 0, 1, 1, 0, 0, 0},
	{"baseline_loss", T_SPECIAL, 0, 0, 1, 1, 0, 0, 0},
	{"clip_norm", T_DBL, OFF(clip_norm), 0, 0, 0, 1e-12, BIG, 0},
	{"sync_bn", T_FLAG, OFF(sync_bn), 0, 0, 0, 0, 0, 0},
	{"precision", T_SPECIAL, 0, 0, 1, 1, 0, 0, O_NOSAVE}, /* a run-time choice like -d: not stored */
	{"num_workers", T_INT, OFF(threads), 0, 0, 0, 0, 4096, O_NOSAVE}, /* official name; alias of --threads */
	{"quiet", T_SPECIAL, 0, 0, 0, 0, 0, 0, O_NOSAVE | O_NOARG},
	{"verbose", T_SPECIAL, 0, 0, 0, 0, 0, 0, O_NOSAVE | O_NOARG},
	{"help", T_SPECIAL, 0, 0, 0, 0, 0, 0, O_NOSAVE | O_NOARG},
	{"version", T_SPECIAL, 0, 0, 0, 0, 0, 0, O_NOSAVE | O_NOARG},
	{"print_config", T_SPECIAL, 0, 0, 0, 0, 0, 0, O_NOSAVE | O_NOARG},
};
const int tc_nopts = sizeof tc_opts / sizeof tc_opts[0];
_Static_assert(sizeof tc_opts / sizeof tc_opts[0] <= 64 * sizeof ((train_config *)0)->given / sizeof(uint64_t),
	       "train_config.given has a bit per option");

static const char *const arch_names[] = {"resnet50", "resnet18", "resnet34", "cifar_resnet18"};
const char *const tc_group_names[PG_COUNT] = {"none", "trunk", "embedder", "collector"};
const char *const tc_split_names[2] = {"test", "train"}; /* bits SPLIT_TEST, SPLIT_TRAIN */

static char *dupstr(const char *s) { return s ? xstrdup(s) : NULL; }

void train_config_init(train_config *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->device, "auto");
	c->precision = -1;
	c->batch_size = 180;
	c->test_batch_size = 180;
	c->setting = SETTING_AVSL;
	c->model = xstrdup("resnet50");
	c->feature_dim_list[0] = 512, c->feature_dim_list[1] = 1024, c->feature_dim_list[2] = 2048;
	c->embeddings_dim = 512;
	c->avsl_m = 0.5;
	c->topk_corr = 128;
	c->prob_gamma = 10;
	c->index_p = 2;
	c->pa_pos_margin = 1.8, c->pa_neg_margin = 2.2, c->pa_alpha = 16;
	c->final_pa_pos_margin = 1.8, c->final_pa_neg_margin = 2.2, c->final_pa_alpha = 16;
	c->loss_weight[0] = 0.5, c->loss_weight[1] = 1, c->loss_weight[2] = 0.5;
	c->use_proxy = 1;
	c->wd = 1e-4;
	c->gamma = 0.5;
	c->step = 10;
	c->lr_trunk = 1e-5, c->lr_embedder = 5.5e-4, c->lr_collector = 1.1e-4;
	c->warm_up = 5;
	c->warm_up_groups = 1u << PG_EMBEDDER | 1u << PG_COLLECTOR;
	c->splits_to_eval = SPLIT_TEST;
	c->test_split_num = 1;
	c->interval = 1;
	c->k_list[0] = 1, c->k_list[1] = 2, c->k_list[2] = 4, c->k_list[3] = 8;
	c->n_k_list = 4;
	c->proxyanchor_margin = 0.1, c->proxyanchor_alpha = 32;
	c->epochs = 61;
	c->input_size = 224;
	c->resize = 256;
	c->crop_scale[0] = 0.16, c->crop_scale[1] = 1.0;
	c->crop_ratio[0] = 0.75, c->crop_ratio[1] = 1.33;
	c->mean[0] = 0.485f, c->mean[1] = 0.456f, c->mean[2] = 0.406f;
	c->std[0] = 0.229f, c->std[1] = 0.224f, c->std[2] = 0.225f;
	c->channels = 3;
	c->base_width = 64;
	c->log_every = 10;
	c->patience = 15;
	c->clip_mode = CLIP_FIRST;
	c->clip_norm = 10;
	c->verbosity = CLI_NORMAL;
}

void train_config_free(train_config *c)
{
	for (int i = 0; i < tc_nopts; i++)
		if (tc_opts[i].type == T_STR) {
			char **p = (char **)((char *)c + tc_opts[i].off);
			free(*p);
			*p = NULL;
		}
	free(c->model);
	free(c->arch);
	c->model = c->arch = NULL;
}

/* ---- errors ---- */

int tc_fail(errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tc_fail(errbuf *e, const char *fmt, ...)
{
	if (e->buf && e->len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->buf, e->len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- applying one option to its values ---- */

const opt_def *tc_find_opt(const char *name)
{
	for (int i = 0; i < tc_nopts; i++)
		if (strcmp(tc_opts[i].name, name) == 0)
			return &tc_opts[i];
	return NULL;
}

static int parse_num(errbuf *e, const opt_def *o, const char *w, double *out)
{
	const char *why;
	if (parse_double(w, o->lo, o->hi, out, &why))
		return tc_fail(e, "--%s: '%s': %s", o->name, w, why);
	return 0;
}

static int parse_int(errbuf *e, const opt_def *o, const char *w, long *out)
{
	const char *why;
	if (parse_long(w, (long)o->lo, (long)o->hi, out, &why))
		return tc_fail(e, "--%s: '%s': %s", o->name, w, why);
	return 0;
}

/* Split "1,2,4" words further on commas (numbers only) into out (max cap items). Returns the count or -1. */
static int split_numbers(errbuf *e, const opt_def *o, char **words, int n, char ***out)
{
	int cnt = 0, cap = 0;
	char **res = NULL;
	for (int i = 0; i < n; i++) {
		char *copy = xstrdup(words[i]), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (cnt == cap) {
				cap = cap ? 2 * cap : 8;
				res = xrealloc_array(res, (size_t)cap, sizeof *res);
			}
			res[cnt++] = xstrdup(t);
		}
		free(copy);
	}
	if (cnt < o->min_n || cnt > o->max_n) {
		for (int i = 0; i < cnt; i++)
			free(res[i]);
		free(res);
		if (o->min_n == o->max_n)
			return tc_fail(e, "--%s: expected %d values, got %d", o->name, o->min_n, cnt);
		return tc_fail(e, "--%s: expected %d to %d values, got %d", o->name, o->min_n, o->max_n, cnt);
	}
	*out = res;
	return cnt;
}

static void free_words(char **w, int n)
{
	for (int i = 0; i < n; i++)
		free(w[i]);
	free(w);
}

static int word_list(errbuf *e, const opt_def *o, char **words, int n, const char *const *allowed, int n_allowed,
		     unsigned *mask)
{
	unsigned m = 0;
	for (int i = 0; i < n; i++) {
		int found = -1;
		for (int j = 0; j < n_allowed; j++)
			if (allowed[j] && strcmp(words[i], allowed[j]) == 0)
				found = j;
		if (found < 0)
			return tc_fail(e, "--%s: unknown value '%s'", o->name, words[i]);
		m |= 1u << found;
	}
	*mask = m;
	return 0;
}

static int set_device(errbuf *e, train_config *c, char **words, int n)
{
	char buf[sizeof c->device] = "";
	c->n_gpu_ids = 0;
	for (int i = 0; i < n; i++) {
		const char *w = words[i];
		long id;
		const char *why;
		int kind, index;
		if (avsl_device_parse(w, &kind, &index) == 0) { /* the names of every tool's -d (device.h) */
			if (n != 1)
				return tc_fail(e, "--device: '%s' must be the only value", w);
		} else if (parse_long(w, 0, 1023, &id, &why) == 0) {
			c->gpu_ids[c->n_gpu_ids++] = (int)id;
		} else {
			return tc_fail(e, "--device: unknown device '%s' (expected cpu, cuda, cuda:N, auto or GPU ids)", w);
		}
		if (strlen(buf) + strlen(w) + 2 > sizeof buf)
			return tc_fail(e, "--device: too long");
		if (i)
			strcat(buf, ",");
		strcat(buf, w);
	}
	strcpy(c->device, buf);
	c->device_given = 1;
	return 0;
}

/* Apply option o with its n value words; status gets TC_HELP/TC_VERSION for those flags. */
int tc_apply(errbuf *e, train_config *c, const opt_def *o, char **words, int n, int negate, int *status)
{
	char *base = (char *)c;
	if (negate) {
		if (o->type != T_FLAG)
			return tc_fail(e, "--no-%s: not a yes/no flag", o->name);
		*(int *)(base + o->off) = 0;
		return 0;
	}
	switch (o->type) {
	case T_STR: {
		char **p = (char **)(base + o->off);
		free(*p);
		*p = xstrdup(words[0]);
		return 0;
	}
	case T_INT: {
		long v;
		if (parse_int(e, o, words[0], &v))
			return -1;
		*(int *)(base + o->off) = (int)v;
		return 0;
	}
	case T_U64: {
		const char *w = words[0];
		char *end;
		errno = 0;
		unsigned long long v = strtoull(w, &end, 10);
		if (!isdigit((unsigned char)w[0]) || *end || errno)
			return tc_fail(e, "--%s: '%s': not a non-negative integer", o->name, w);
		*(uint64_t *)(base + o->off) = v;
		return 0;
	}
	case T_DBL: {
		double v;
		if (parse_num(e, o, words[0], &v))
			return -1;
		*(double *)(base + o->off) = v;
		return 0;
	}
	case T_FLAG:
		*(int *)(base + o->off) = 1;
		return 0;
	case T_INTS:
	case T_DBLS:
	case T_FLTS: {
		char **nums = NULL;
		int cnt = split_numbers(e, o, words, n, &nums);
		if (cnt < 0)
			return -1;
		double vals[TC_MAX_LIST];
		for (int i = 0; i < cnt; i++) {
			if (o->type == T_INTS) {
				long v;
				if (parse_int(e, o, nums[i], &v))
					return free_words(nums, cnt), -1;
				vals[i] = (double)v;
			} else if (parse_num(e, o, nums[i], &vals[i])) {
				return free_words(nums, cnt), -1;
			}
		}
		free_words(nums, cnt);
		int fill = o->cnt_off == NOCNT ? o->max_n : cnt; /* fixed-size lists: one value is broadcast */
		if (o->cnt_off == NOCNT && cnt != o->max_n && cnt != 1)
			return tc_fail(e, "--%s: expected 1 or %d values, got %d", o->name, o->max_n, cnt);
		for (int i = 0; i < fill; i++) {
			double v = vals[cnt == 1 ? 0 : i];
			if (o->type == T_INTS)
				((int *)(base + o->off))[i] = (int)v;
			else if (o->type == T_DBLS)
				((double *)(base + o->off))[i] = v;
			else
				((float *)(base + o->off))[i] = (float)v;
		}
		if (o->cnt_off != NOCNT)
			*(int *)(base + o->cnt_off) = cnt;
		return 0;
	}
	case T_SPECIAL:
		break;
	}
	const char *nm = o->name;
	if (strcmp(nm, "device") == 0)
		return set_device(e, c, words, n);
	if (strcmp(nm, "precision") == 0) {
		c->precision = avsl_precision_parse(words[0]);
		if (c->precision < 0)
			return tc_fail(e, "--precision: unknown precision '%s' (expected fp32, bf16, tf32 or auto)",
				       words[0]);
		return 0;
	}
	if (strcmp(nm, "setting") == 0) {
		if (strcmp(words[0], "avsl_proxyanchor") == 0)
			c->setting = SETTING_AVSL;
		else if (strcmp(words[0], "proxy_anchor") == 0)
			c->setting = SETTING_PROXY_ANCHOR;
		else
			return tc_fail(e, "--setting: '%s': expected avsl_proxyanchor or proxy_anchor", words[0]);
		return 0;
	}
	if (strcmp(nm, "model") == 0 || strcmp(nm, "arch") == 0) {
		for (size_t i = 0; i < sizeof arch_names / sizeof *arch_names; i++)
			if (strcmp(words[0], arch_names[i]) == 0) {
				char **p = nm[0] == 'm' ? &c->model : &c->arch;
				free(*p);
				*p = xstrdup(words[0]);
				return 0;
			}
		return tc_fail(e, "--%s: '%s': expected resnet50, resnet18, resnet34 or cifar_resnet18", nm, words[0]);
	}
	if (strcmp(nm, "warm_up_list") == 0)
		return word_list(e, o, words, n, tc_group_names, PG_COUNT, &c->warm_up_groups) ||
		       ((c->warm_up_groups & 1u) ? tc_fail(e, "--warm_up_list: unknown value 'none'") : 0);
	if (strcmp(nm, "splits_to_eval") == 0) {
		return word_list(e, o, words, n, tc_split_names, 2, &c->splits_to_eval);
	}
	if (strcmp(nm, "eval_exclude") == 0) {
		c->n_eval_exclude = 0;
		for (int i = 0; i < n; i++) {
			if (strlen(words[i]) >= TC_WORD_LEN)
				return tc_fail(e, "--eval_exclude: '%s': too long", words[i]);
			strcpy(c->eval_exclude[c->n_eval_exclude++], words[i]);
		}
		return 0;
	}
	if (strcmp(nm, "clip_grad") == 0) {
		int m = clip_mode_parse(words[0]);
		if (m < 0)
			return tc_fail(e, "--clip-grad: '%s': expected first, every or never", words[0]);
		c->clip_mode = m;
		return 0;
	}
	if (strcmp(nm, "baseline_loss") == 0) {
		if (strcmp(words[0], "cosine") && strcmp(words[0], "distance"))
			return tc_fail(e, "--baseline-loss: '%s': expected cosine or distance", words[0]);
		c->baseline_distance = words[0][0] == 'd';
		return 0;
	}
	if (strcmp(nm, "quiet") == 0)
		c->verbosity = CLI_QUIET;
	else if (strcmp(nm, "verbose") == 0)
		c->verbosity = CLI_VERBOSE;
	else if (strcmp(nm, "help") == 0)
		*status = TC_HELP;
	else if (strcmp(nm, "version") == 0)
		*status = TC_VERSION;
	else if (strcmp(nm, "print_config") == 0 && *status == TC_OK)
		*status = TC_PRINT;
	return 0;
}

/* ---- argv ---- */

static int is_number(const char *s)
{
	char *end;
	errno = 0;
	strtod(s, &end);
	return end != s && *end == 0;
}

/* A word that ends a nargs='+' list: an option (but not a negative number). */
static int is_option_word(const char *w) { return w[0] == '-' && w[1] != 0 && !is_number(w); }

static int is_list(const opt_def *o)
{
	if (o->type == T_INTS || o->type == T_DBLS || o->type == T_FLTS)
		return 1;
	return o->type == T_SPECIAL && o->max_n > 1;
}

/* Long-option name with '-' mapped to '_' (up to '='); *value gets the text after '=' or NULL. */
static char *normalise(const char *arg, const char **value)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	char *name = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		name[i] = arg[i] == '-' ? '_' : arg[i];
	name[n] = 0;
	*value = eq ? eq + 1 : NULL;
	return name;
}

static void mark_given(train_config *c, const opt_def *o)
{
	int i = (int)(o - tc_opts);
	c->given[i / 64] |= 1ull << (i % 64);
}

int train_config_given(const train_config *c, const char *name)
{
	const opt_def *o = tc_find_opt(name);
	if (!o)
		return 0;
	int i = (int)(o - tc_opts);
	return (int)(c->given[i / 64] >> (i % 64) & 1u);
}

/* Which Proxy-Anchor a pasted baseline line means (avsl-method.md §4.3, §11-P1): --proxyanchor_margin/_alpha exist
 * only in gedml's flag table (its cosine PA); --pa_* only in the AVSL repository's, where proxy_anchor is the
 * distance PA on non-squared Euclidean distances (the official SOP baseline line). --baseline-loss wins; a line
 * with neither family (e.g. --resume with a few flags) keeps the value it had. */
static void resolve_baseline_loss(train_config *c)
{
	if (c->setting != SETTING_PROXY_ANCHOR || train_config_given(c, "baseline_loss"))
		return;
	int pa = train_config_given(c, "pa_pos_margin") || train_config_given(c, "pa_neg_margin") ||
		 train_config_given(c, "pa_alpha");
	int gedml = train_config_given(c, "proxyanchor_margin") || train_config_given(c, "proxyanchor_alpha");
	if (pa && !gedml)
		c->baseline_distance = 1;
	else if (gedml && !pa)
		c->baseline_distance = 0;
}

static int parse_args(train_config *c, int argc, char **argv, errbuf *e)
{
	int status = TC_OK;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const opt_def *o = NULL;
		const char *value = NULL;
		int negate = 0;
		char shortbuf[2] = {0};
		if (arg[0] == '-' && arg[1] != '-' && arg[1] != 0) {
			/* -d DEV, -o DIR, -oDIR, -q, -v, -h, -V */
			static const struct {
				char c;
				const char *name;
			} shorts[] = {{'d', "device"}, {'o', "out"},     {'q', "quiet"},
				      {'v', "verbose"}, {'h', "help"}, {'V', "version"}};
			for (size_t j = 0; j < sizeof shorts / sizeof *shorts; j++)
				if (arg[1] == shorts[j].c)
					o = tc_find_opt(shorts[j].name);
			if (!o)
				return tc_fail(e, "unknown option '%s'", arg);
			if (arg[2]) {
				if (o->flags & O_NOARG)
					return tc_fail(e, "unknown option '%s'", arg);
				value = arg + 2;
			}
			shortbuf[0] = arg[1];
		} else if (arg[0] == '-' && arg[1] == '-' && arg[2]) {
			char *name = normalise(arg + 2, &value);
			o = tc_find_opt(name);
			if (!o && strncmp(name, "no_", 3) == 0 && (o = tc_find_opt(name + 3)) != NULL) {
				if (o->type != T_FLAG)
					o = NULL;
				negate = 1;
			}
			free(name);
			if (!o)
				return tc_fail(e, "unknown option '%s'", arg);
		} else {
			return tc_fail(e, "unexpected argument '%s' (avsl-train takes options only)", arg);
		}
		int noarg = o->type == T_FLAG || (o->flags & O_NOARG) || negate;
		if (noarg) {
			if (value)
				return tc_fail(e, "--%s takes no value", o->name);
			if (tc_apply(e, c, o, NULL, 0, negate, &status))
				return -1;
			mark_given(c, o);
			continue;
		}
		char *single[1];
		char **words;
		int n;
		if (value) {
			single[0] = (char *)value;
			words = single;
			n = 1;
		} else if (is_list(o)) {
			words = argv + i + 1;
			n = 0;
			while (i + 1 + n < argc && !is_option_word(argv[i + 1 + n]))
				n++;
			i += n;
		} else {
			if (i + 1 >= argc)
				return shortbuf[0] ? tc_fail(e, "-%c needs a value", shortbuf[0])
						   : tc_fail(e, "--%s needs a value", o->name);
			words = argv + ++i;
			n = 1;
		}
		if (n < 1 || (o->max_n && o->type == T_SPECIAL && n > o->max_n && o->max_n > 1))
			return n < 1 ? tc_fail(e, "--%s needs at least one value", o->name)
				     : tc_fail(e, "--%s: at most %d values", o->name, o->max_n);
		if (tc_apply(e, c, o, words, n, 0, &status))
			return -1;
		mark_given(c, o);
	}
	return status;
}

int train_config_check(const train_config *c, char *err, size_t errlen)
{
	errbuf e = {err, errlen};
	if (!c->data_path && !c->resume)
		return tc_fail(&e, "--data_path is required (a shard, a manifest or a folder of them)");
	if (c->crop_scale[0] > c->crop_scale[1])
		return tc_fail(&e, "--crop-scale: lower bound %g above upper bound %g", c->crop_scale[0], c->crop_scale[1]);
	if (c->crop_ratio[0] > c->crop_ratio[1])
		return tc_fail(&e, "--crop-ratio: lower bound %g above upper bound %g", c->crop_ratio[0], c->crop_ratio[1]);
	if (c->topk_corr > c->embeddings_dim)
		return tc_fail(&e, "--topk_corr %d exceeds --embeddings_dim %d", c->topk_corr, c->embeddings_dim);
	int kmax = 0;
	for (int i = 0; i < c->n_k_list; i++)
		kmax = c->k_list[i] > kmax ? c->k_list[i] : kmax;
	if (c->k && c->k < kmax)
		return tc_fail(&e, "--k %d is smaller than the largest --k_list value %d", c->k, kmax);
	if (c->resize && c->resize < c->input_size)
		return tc_fail(&e, "--resize %d is smaller than --input-size %d", c->resize, c->input_size);
	if (!c->splits_to_eval)
		return tc_fail(&e, "--splits_to_eval: no split given");
	return 0;
}

int train_config_parse(train_config *c, int argc, char **argv, char *err, size_t errlen)
{
	errbuf e = {err, errlen};
	memset(c->given, 0, sizeof c->given);
	int st = parse_args(c, argc, argv, &e);
	if (st != TC_OK && st != TC_PRINT)
		return st;
	resolve_baseline_loss(c);
	return train_config_check(c, err, errlen) ? TC_ERROR : st;
}

void train_config_parse_or_exit(train_config *c, int argc, char **argv)
{
	char err[512];
	train_config_init(c);
	switch (train_config_parse(c, argc, argv, err, sizeof err)) {
	case TC_OK: return;
	case TC_HELP: train_config_usage(stdout); exit(AVSL_EXIT_OK);
	case TC_VERSION: cli_print_version(); exit(AVSL_EXIT_OK);
	case TC_PRINT:
		train_config_print(c, stdout);
		train_config_notices(c, stderr);
		exit(AVSL_EXIT_OK);
	default: die_usage("%s", err);
	}
}

/* ---- queries ---- */

const char *train_config_arch(const train_config *c) { return c->arch ? c->arch : c->model; }

double train_config_lr0(const train_config *c, param_group g)
{
	switch (g) {
	case PG_TRUNK: return c->lr_trunk;
	case PG_EMBEDDER: return c->lr_embedder;
	case PG_COLLECTOR: return c->lr_collector;
	default: return 0;
	}
}

int train_config_group_active(const train_config *c, param_group g, int epoch)
{
	if (g <= PG_NONE || g >= PG_COUNT)
		return 0;
	return epoch >= c->warm_up || (c->warm_up_groups >> g & 1u);
}

int train_config_slices(const train_config *c)
{
	return c->setting == SETTING_AVSL && c->test_split_num > 1 ? c->test_split_num : 0;
}

int train_config_notices(const train_config *c, FILE *fp)
{
	int lines = 0;
	if (c->setting == SETTING_PROXY_ANCHOR) {
		/* samples_baseline.sh's SOP line passes the AVSL flags too; proxy_anchor parses and ignores them (§8.3) */
		static const char *const avsl_only[] = {"feature_dim_list", "avsl_m", "topk_corr", "prob_gamma",
							"index_p", "loss0_weight", "loss1_weight", "loss2_weight",
							"final_pa_pos_margin", "final_pa_neg_margin", "final_pa_alpha",
							"use_proxy", "test_split_num"};
		char list[512] = "";
		for (size_t i = 0; i < sizeof avsl_only / sizeof *avsl_only; i++)
			if (train_config_given(c, avsl_only[i]) && strlen(list) + strlen(avsl_only[i]) + 4 < sizeof list)
				strcat(strcat(list, " --"), avsl_only[i]);
		if (list[0]) {
			fprintf(fp, "%s: note: ignored by --setting proxy_anchor, as in the official code:%s\n",
				avsl_progname(), list);
			lines++;
		}
	}
	if (c->sync_bn && !c->not_freeze_bn) {
		fprintf(fp, "%s: note: --sync-bn has no effect: BN is frozen (it synchronises trained BN, "
			    "--not_freeze_bn)\n", avsl_progname());
		lines++;
	}
	if (c->setting != SETTING_PROXY_ANCHOR && !c->use_proxy) {
		fprintf(fp, "%s: note: --no-use-proxy is accepted and ignored: batch-vs-batch AVSL is not implemented, "
			    "training compares with proxies as every official command does\n", avsl_progname());
		lines++;
	}
	return lines;
}

int train_config_eval_due(const train_config *c, int epoch)
{
	return epoch % c->interval == 0 || epoch == c->epochs - 1;
}

void train_config_loader(const train_config *c, int train, loader_config *lc)
{
	loader_config_default(lc);
	lc->train = train;
	lc->batch = train ? c->batch_size : c->test_batch_size;
	lc->out_h = lc->out_w = c->input_size;
	lc->channels = c->channels;
	lc->resize = c->resize;
	lc->scale_lo = (float)c->crop_scale[0], lc->scale_hi = (float)c->crop_scale[1];
	lc->ratio_lo = (float)c->crop_ratio[0], lc->ratio_hi = (float)c->crop_ratio[1];
	lc->flip = 1;
	memcpy(lc->mean, c->mean, sizeof lc->mean);
	memcpy(lc->std, c->std, sizeof lc->std);
	lc->seed = c->seed;
	lc->threads = c->threads;
	lc->prefetch = 1;
}

void train_config_apply_epoch(const train_config *c, adamw *o, int epoch)
{
	for (int g = PG_TRUNK; g < PG_COUNT; g++) {
		o->group[g].lr = steplr_lr(train_config_lr0(c, (param_group)g), epoch, c->warm_up, c->step, c->gamma);
		o->group[g].wd = c->wd;
		o->group[g].active = train_config_group_active(c, (param_group)g, epoch);
	}
}

void train_config_update(const train_config *c, adamw *o, int64_t step, double norms[PG_COUNT])
{
	int clip = optim_clip_due((clip_mode)c->clip_mode, step);
	for (int g = 0; g < PG_COUNT; g++) {
		double n = clip && g != PG_NONE ? grad_clip_group(adamw_ctx(o), o->ps, (param_group)g, c->clip_norm) : -1;
		if (norms)
			norms[g] = n;
	}
	adamw_step(o);
}

void early_stop_init(early_stop *s)
{
	s->best = 0;
	s->best_epoch = -1;
	s->bad = 0;
}

int early_stop_update(early_stop *s, const train_config *c, int epoch, double r1, int *stop)
{
	*stop = 0;
	if (s->best_epoch < 0 || r1 > s->best) {
		s->best = r1;
		s->best_epoch = epoch;
		s->bad = 0;
		return 1;
	}
	s->bad += c->interval;
	if (c->patience > 0 && s->bad >= c->patience)
		*stop = 1;
	if (s->best > 0 && r1 <= 0.6 * s->best)
		*stop = 1;
	return 0;
}

char *train_config_run_dir(const train_config *c)
{
	if (c->out)
		return xstrdup(c->out);
	if (c->save_path || c->save_name)
		return xasprintf("%s/%s", c->save_path ? c->save_path : ".", c->save_name ? c->save_name : "run");
	return xstrdup("run");
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

static char *first_existing(const char *dir, const char *stem)
{
	char *m = xasprintf("%s/%s.avsm", dir, stem);
	if (is_file(m))
		return m;
	free(m);
	m = xasprintf("%s/%s.avs", dir, stem);
	if (is_file(m))
		return m;
	free(m);
	return NULL;
}

int train_config_data_paths(const train_config *c, char **train_path, char **test_path, char *err, size_t errlen)
{
	errbuf e = {err, errlen};
	*train_path = *test_path = NULL;
	if (!c->data_path)
		return tc_fail(&e, "no --data_path");
	if (is_dir(c->data_path)) {
		*train_path = first_existing(c->data_path, "train");
		if (!*train_path)
			return tc_fail(&e, "%s: no train.avsm or train.avs in this folder", c->data_path);
		*test_path = c->eval_data ? xstrdup(c->eval_data) : first_existing(c->data_path, "test");
	} else {
		*train_path = xstrdup(c->data_path);
		*test_path = dupstr(c->eval_data);
	}
	return 0;
}

void train_config_usage(FILE *fp)
{
	fputs("usage: avsl-train --data_path DATA [options]\n"
	      "Train an AVSL model (or the Proxy-Anchor baseline) on image shards. Flags follow the official AVSL\n"
	      "commands; '-' and '_' are interchangeable in flag names. Defaults: the official CUB-200 AVSL command.\n"
	      "\n"
	      "Data and output:\n"
	      "  --data_path DATA          training shard/manifest, or a folder with train.avsm and test.avsm\n"
	      "  --eval-data FILE          test shard/manifest (default: DATA/test.avsm when DATA is a folder)\n"
	      "  -o, --out DIR             run directory (default: SAVE_PATH/SAVE_NAME, else ./run)\n"
	      "  --save_path DIR, --save_name NAME, --delete_old\n"
	      "  --init FILE               ImageNet weights (safetensors, torchvision names)\n"
	      "  --resume FILE             continue from a checkpoint\n"
	      "Model:\n"
	      "  --setting S               avsl_proxyanchor (AVSL) or proxy_anchor (baseline)\n"
	      "  --dataset NAME            cub200, cars196, online_products, ...: recorded only\n"
	      "  --model M, --arch M       resnet50 (default), resnet18, resnet34, cifar_resnet18\n"
	      "  --base-width N            ResNet base width (64)\n"
	      "  --feature_dim_list A B C  (512 1024 2048)     --embeddings_dim D (512)\n"
	      "  --num_classes K           (default: from the training data)\n"
	      "  --use_proxy               compare with proxies (always; --no-use-proxy is accepted and ignored)\n"
	      "  --avsl_m M (0.5)  --topk_corr K (128)  --prob_gamma G (10)  --index_p P (2)\n"
	      "Losses:\n"
	      "  --pa_pos_margin (1.8) --pa_neg_margin (2.2) --pa_alpha (16)            level losses\n"
	      "  --final_pa_pos_margin (1.8) --final_pa_neg_margin (2.2) --final_pa_alpha (16)\n"
	      "  --loss0_weight (0.5) --loss1_weight (1) --loss2_weight (0.5)\n"
	      "  --proxyanchor_margin (0.1) --proxyanchor_alpha (32)   cosine Proxy-Anchor (baseline)\n"
	      "  --baseline-loss cosine|distance   baseline loss (default: distance when the line has --pa_* and no\n"
	      "                            --proxyanchor_*, as the official SOP baseline; else cosine)\n"
	      "Optimisation:\n"
	      "  --batch_size N (180)  --epochs N (61)  --wd X (1e-4)\n"
	      "  --lr_trunk X (1e-5)  --lr_embedder X (5.5e-4)  --lr_collector X (1.1e-4)\n"
	      "  --step N (10)  --gamma X (0.5)  --warm_up N (5)  --warm_up_list G... (embedder collector)\n"
	      "  --not_freeze_bn  --clip-grad first|every|never (first)  --clip-norm X (10)  --seed N (0)\n"
	      "  --sync-bn                 under mpirun with --not_freeze_bn: BN statistics of the global batch\n"
	      "                            (default: each rank's slice; no effect with frozen BN or one process)\n"
	      "Images:\n"
	      "  --input-size N (224)  --resize N (256, 0: never)  --crop-scale LO,HI (0.16,1)\n"
	      "  --crop-ratio LO,HI (0.75,1.33)  --mean M... --std S...  (ImageNet)  --channels 1|3 (3)\n"
	      "Evaluation:\n"
	      "  --test_batch_size N (180)  --interval N (1)  --splits_to_eval test|train... (test)\n"
	      "  --k_list K... (1 2 4 8)  --k N (auto)  --test_split_num N (1)  --eval_exclude NAME...\n"
	      "  --patience N (15)\n"
	      "Runtime:\n"
	      AVSL_DEVICE_HELP
	      "                         (also the official GPU id list: --device 0 1, one rank per id)\n"
	      AVSL_PRECISION_HELP
	      "  --threads N, --num_workers N (0: all CPUs, fewer while other processes keep CPUs busy)\n"
	      "  --log-every N (10)  --print-config (the resolved configuration; no training)\n"
	      "  -q, --quiet  -v, --verbose  -h, --help  -V, --version\n"
	      "See avsl-train(1).\n",
	      fp);
}
