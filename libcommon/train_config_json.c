/* train_config_json.c: the configuration as JSON (train_config_to_json) and back (train_config_from_json), for the
 * checkpoint's "avsl.config" metadata. */
#define _GNU_SOURCE
#include "optim.h"
#include "train_config.h"
#include "train_config_impl.h"
#include "util.h"

#include <ctype.h>
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

/* A minimal reader for the flat objects written above: values are strings, numbers, true/false/null, or arrays of
 * strings and numbers. Each value becomes the argv words the flag would take. */
typedef struct {
	const char *p;
	errbuf *e;
} jreader;

static void jws(jreader *r)
{
	while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
		r->p++;
}

static int jstring(jreader *r, char **out)
{
	if (*r->p != '"')
		return tc_fail(r->e, "config JSON: expected a string at '%.20s'", r->p);
	r->p++;
	size_t cap = 32, n = 0;
	char *s = xmalloc(cap);
	while (*r->p != '"') {
		unsigned ch = (unsigned char)*r->p;
		if (!ch || ch < 0x20) {
			free(s);
			return tc_fail(r->e, "config JSON: unterminated string");
		}
		if (ch == '\\') {
			r->p++;
			switch (*r->p) {
			case '"': ch = '"'; break;
			case '\\': ch = '\\'; break;
			case '/': ch = '/'; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'u': {
				unsigned v = 0;
				for (int k = 1; k <= 4; k++) {
					char h = r->p[k];
					if (!isxdigit((unsigned char)h)) {
						free(s);
						return tc_fail(r->e, "config JSON: bad \\u escape");
					}
					v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
				}
				if (v >= 0x80) { /* the writer escapes only control characters */
					free(s);
					return tc_fail(r->e, "config JSON: unsupported \\u%04x", v);
				}
				ch = v;
				r->p += 4;
				break;
			}
			default: free(s); return tc_fail(r->e, "config JSON: bad escape");
			}
		}
		if (n + 2 > cap)
			s = xrealloc(s, cap *= 2);
		s[n++] = (char)ch;
		r->p++;
	}
	r->p++;
	s[n] = 0;
	*out = s;
	return 0;
}

/* A scalar as a word: string contents, number text, "true"/"false"/"null". */
static int jscalar(jreader *r, char **out)
{
	if (*r->p == '"')
		return jstring(r, out);
	const char *start = r->p;
	while (*r->p && (isalnum((unsigned char)*r->p) || strchr("+-.", *r->p)))
		r->p++;
	if (r->p == start)
		return tc_fail(r->e, "config JSON: unexpected '%.20s'", start);
	size_t len = (size_t)(r->p - start);
	*out = xmalloc(len + 1);
	memcpy(*out, start, len);
	(*out)[len] = 0;
	return 0;
}

int train_config_from_json(train_config *c, const char *json, char *err, size_t errlen)
{
	errbuf e = {err, errlen};
	jreader r = {json, &e};
	train_config_init(c);
	jws(&r);
	if (*r.p++ != '{')
		return tc_fail(&e, "config JSON: expected an object");
	jws(&r);
	if (*r.p == '}')
		return 0;
	for (;;) {
		jws(&r);
		char *key;
		if (jstring(&r, &key))
			return -1;
		const opt_def *o = tc_find_opt(key);
		if (!o || (o->flags & O_NOSAVE)) {
			tc_fail(&e, "config JSON: unknown key '%s'", key);
			free(key);
			return -1;
		}
		free(key);
		jws(&r);
		if (*r.p++ != ':')
			return tc_fail(&e, "config JSON: expected ':' after \"%s\"", o->name);
		jws(&r);
		char *words[TC_MAX_LIST + 1];
		int n = 0, array = *r.p == '[', rc = 0, st = 0;
		if (array) {
			r.p++;
			jws(&r);
			while (*r.p != ']') {
				if (n == TC_MAX_LIST + 1 || jscalar(&r, &words[n])) {
					rc = n == TC_MAX_LIST + 1 ? tc_fail(&e, "config JSON: \"%s\": too many values", o->name)
								   : -1;
					break;
				}
				n++;
				jws(&r);
				if (*r.p == ',') {
					r.p++;
					jws(&r);
				} else if (*r.p != ']') {
					rc = tc_fail(&e, "config JSON: \"%s\": expected ',' or ']'", o->name);
					break;
				}
			}
			if (!rc)
				r.p++;
		} else {
			rc = jscalar(&r, &words[0]);
			if (!rc)
				n = 1;
		}
		if (!rc) {
			if (!array && strcmp(words[0], "null") == 0 && o->type == T_STR)
				; /* absent: keep the default */
			else if (!array && o->type == T_FLAG && strcmp(words[0], "true") == 0)
				rc = tc_apply(&e, c, o, NULL, 0, 0, &st);
			else if (!array && o->type == T_FLAG && strcmp(words[0], "false") == 0)
				rc = tc_apply(&e, c, o, NULL, 0, 1, &st);
			else if (o->type == T_FLAG)
				rc = tc_fail(&e, "config JSON: \"%s\": expected true or false", o->name);
			else if (!array && strcmp(words[0], "null") == 0 && strcmp(o->name, "arch") == 0)
				;
			else if (array && n == 0 && strcmp(o->name, "warm_up_list") == 0)
				c->warm_up_groups = 0;
			else if (array && n == 0 && strcmp(o->name, "eval_exclude") == 0)
				c->n_eval_exclude = 0;
			else if (n == 0)
				rc = tc_fail(&e, "config JSON: \"%s\": empty list", o->name);
			else
				rc = tc_apply(&e, c, o, words, n, 0, &st);
		}
		for (int j = 0; j < n; j++)
			free(words[j]);
		if (rc)
			return -1;
		jws(&r);
		if (*r.p == ',') {
			r.p++;
			continue;
		}
		if (*r.p == '}')
			break;
		return tc_fail(&e, "config JSON: expected ',' or '}' after \"%s\"", o->name);
	}
	return 0;
}

