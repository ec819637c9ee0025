/* train_config_json.c: the configuration as JSON (train_config_to_json) and back (train_config_from_json), for the
 * checkpoint's "avsl.config" metadata. */
#define _GNU_SOURCE
#include "json.h"
#include "optim.h"
#include "train_config.h"
#include "train_config_impl.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(fp, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", fp);
		else if (ch == '\t')
			fputs("\\t", fp);
		else if (ch < 0x20)
			fprintf(fp, "\\u%04x", ch);
		else
			fputc(ch, fp);
	}
	fputc('"', fp);
}

static void json_words(FILE *fp, const char *const *allowed, int n_allowed, unsigned mask)
{
	fputc('[', fp);
	int first = 1;
	for (int j = 0; j < n_allowed; j++)
		if (allowed[j] && (mask >> j & 1u)) {
			fprintf(fp, first ? "" : ",");
			json_str(fp, allowed[j]);
			first = 0;
		}
	fputc(']', fp);
}

char *train_config_to_json(const train_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	if (!fp)
		die("out of memory");
	const char *base = (const char *)c;
	fputc('{', fp);
	int first = 1;
	for (int i = 0; i < tc_nopts; i++) {
		const opt_def *o = &tc_opts[i];
		if (o->flags & O_NOSAVE)
			continue;
		fprintf(fp, "%s\"%s\":", first ? "" : ",", o->name);
		first = 0;
		switch (o->type) {
		case T_STR: {
			const char *s = *(char *const *)(base + o->off);
			if (s)
				json_str(fp, s);
			else
				fputs("null", fp);
			break;
		}
		case T_INT: fprintf(fp, "%d", *(const int *)(base + o->off)); break;
		case T_U64: fprintf(fp, "%llu", (unsigned long long)*(const uint64_t *)(base + o->off)); break;
		case T_DBL: fprintf(fp, "%.17g", *(const double *)(base + o->off)); break;
		case T_FLAG: fputs(*(const int *)(base + o->off) ? "true" : "false", fp); break;
		case T_INTS:
		case T_DBLS:
		case T_FLTS: {
			int n = o->cnt_off == NOCNT ? o->max_n : *(const int *)(base + o->cnt_off);
			fputc('[', fp);
			for (int j = 0; j < n; j++) {
				if (j)
					fputc(',', fp);
				if (o->type == T_INTS)
					fprintf(fp, "%d", ((const int *)(base + o->off))[j]);
				else if (o->type == T_DBLS)
					fprintf(fp, "%.17g", ((const double *)(base + o->off))[j]);
				else
					fprintf(fp, "%.9g", (double)((const float *)(base + o->off))[j]);
			}
			fputc(']', fp);
			break;
		}
		case T_SPECIAL:
			if (strcmp(o->name, "device") == 0) {
				char tmp[sizeof c->device], *save = NULL;
				strcpy(tmp, c->device);
				fputc('[', fp);
				int f2 = 1;
				for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save), f2 = 0) {
					if (!f2)
						fputc(',', fp);
					json_str(fp, t);
				}
				fputc(']', fp);
			} else if (strcmp(o->name, "setting") == 0) {
				json_str(fp, c->setting == SETTING_AVSL ? "avsl_proxyanchor" : "proxy_anchor");
			} else if (strcmp(o->name, "model") == 0) {
				json_str(fp, c->model);
			} else if (strcmp(o->name, "arch") == 0) {
				if (c->arch)
					json_str(fp, c->arch);
				else
					fputs("null", fp);
			} else if (strcmp(o->name, "warm_up_list") == 0) {
				json_words(fp, tc_group_names, PG_COUNT, c->warm_up_groups);
			} else if (strcmp(o->name, "splits_to_eval") == 0) {
				json_words(fp, tc_split_names, 2, c->splits_to_eval);
			} else if (strcmp(o->name, "eval_exclude") == 0) {
				fputc('[', fp);
				for (int j = 0; j < c->n_eval_exclude; j++) {
					if (j)
						fputc(',', fp);
					json_str(fp, c->eval_exclude[j]);
				}
				fputc(']', fp);
			} else if (strcmp(o->name, "clip_grad") == 0) {
				json_str(fp, clip_mode_name((clip_mode)c->clip_mode));
			} else if (strcmp(o->name, "baseline_loss") == 0) {
				json_str(fp, c->baseline_distance ? "distance" : "cosine");
			}
			break;
		}
	}
	fputc('}', fp);
	if (fclose(fp))
		die("out of memory");
	return buf;
}

/* A JSON scalar as the word its flag would take on the command line (malloc'd), or NULL for a nested value. */
static char *scalar_word(const json_value *v)
{
	switch (v->type) {
	case JSON_STRING: return xstrdup(v->str);
	case JSON_NUMBER:
		/* %.17g reproduces the double exactly; a plain integer keeps all 64 bits (the seed) */
		return v->is_uint ? xasprintf("%llu", (unsigned long long)v->u) : xasprintf("%.17g", v->num);
	case JSON_TRUE: return xstrdup("true");
	case JSON_FALSE: return xstrdup("false");
	case JSON_NULL: return xstrdup("null");
	default: return NULL;
	}
}

/* Apply one member of the object. */
static int apply_member(errbuf *e, train_config *c, const json_value *m)
{
	const opt_def *o = tc_find_opt(m->key);
	if (!o || (o->flags & O_NOSAVE) || strlen(m->key) != m->key_len)
		return tc_fail(e, "config JSON: unknown key '%s'", m->key);
	const json_value *v = m;
	int st = 0;
	if (o->type == T_FLAG) {
		if (v->type != JSON_TRUE && v->type != JSON_FALSE)
			return tc_fail(e, "config JSON: \"%s\": expected true or false", o->name);
		return tc_apply(e, c, o, NULL, 0, v->type == JSON_FALSE, &st);
	}
	if (v->type == JSON_NULL) {
		if (o->type == T_STR || strcmp(o->name, "arch") == 0)
			return 0; /* absent: the default */
		return tc_fail(e, "config JSON: \"%s\": null", o->name);
	}
	if (v->type == JSON_ARRAY && v->n == 0) {
		if (strcmp(o->name, "warm_up_list") == 0)
			c->warm_up_groups = 0;
		else if (strcmp(o->name, "eval_exclude") == 0)
			c->n_eval_exclude = 0;
		else
			return tc_fail(e, "config JSON: \"%s\": empty list", o->name);
		return 0;
	}
	size_t n = v->type == JSON_ARRAY ? v->n : 1;
	if (n > TC_MAX_LIST)
		return tc_fail(e, "config JSON: \"%s\": too many values", o->name);
	char *words[TC_MAX_LIST];
	int rc = 0;
	size_t k = 0;
	for (; k < n; k++) {
		words[k] = scalar_word(v->type == JSON_ARRAY ? &v->items[k] : v);
		if (!words[k] || (v->type == JSON_STRING && strlen(v->str) != v->str_len)) {
			rc = tc_fail(e, "config JSON: \"%s\": unexpected value", o->name);
			if (words[k])
				k++;
			break;
		}
	}
	if (!rc)
		rc = tc_apply(e, c, o, words, (int)n, 0, &st);
	for (size_t j = 0; j < k; j++)
		free(words[j]);
	return rc;
}

int train_config_from_json(train_config *c, const char *json, char *err, size_t errlen)
{
	errbuf e = {err, errlen};
	train_config_init(c);
	char why[256];
	json_value *root = json_parse(json, strlen(json), why, sizeof why);
	if (!root)
		return tc_fail(&e, "config JSON: %s", why);
	int rc = 0;
	if (root->type != JSON_OBJECT)
		rc = tc_fail(&e, "config JSON: expected an object");
	for (size_t i = 0; !rc && i < root->n; i++)
		rc = apply_member(&e, c, &root->items[i]);
	json_free(root);
	return rc ? -1 : 0;
}
