/* json.c: strict recursive-descent JSON parser (see json.h for the rules). */
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const unsigned char *s;
	size_t len, pos;
	char *why;
	size_t why_len;
	int failed;
	size_t values, max_values;
} parser;

static int fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser *p, const char *fmt, ...)
{
	if (!p->failed && p->why && p->why_len) {
		int n = snprintf(p->why, p->why_len, "byte %zu: ", p->pos);
		if (n >= 0 && (size_t)n < p->why_len) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(p->why + n, p->why_len - n, fmt, ap);
			va_end(ap);
		}
	}
	p->failed = 1;
	return -1;
}

/* Length of the well-formed UTF-8 sequence at s[0..avail), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned c = s[0];
	size_t n;
	unsigned cp, min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

long json_utf8_invalid_at(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_seq(s + i, len - i);
		if (!n)
			return (long)i;
		i += n;
	}
	return -1;
}

static void skip_ws(parser *p)
{
	while (p->pos < p->len) {
		unsigned char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int hex4(parser *p, unsigned *out)
{
	unsigned v = 0;
	if (p->len - p->pos < 4)
		return fail(p, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		unsigned char c = p->s[p->pos + i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return fail(p, "bad hex digit in \\u escape");
		v = v << 4 | d;
	}
	p->pos += 4;
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* At the opening quote. The decoded string is never longer than its source, so one allocation suffices. */
static int parse_string(parser *p, char **out, size_t *out_len)
{
	size_t start = ++p->pos, end = start;
	while (end < p->len && p->s[end] != '"')
		end += p->s[end] == '\\' ? 2 : 1;
	if (end >= p->len)
		return fail(p, "unterminated string");
	char *o = malloc(end - start + 1);
	if (!o)
		return fail(p, "out of memory");
	size_t n = 0;
	while (p->pos < end) {
		unsigned char c = p->s[p->pos];
		if (c < 0x20) {
			free(o);
			return fail(p, "control character 0x%02x in string", c);
		}
		if (c != '\\') {
			size_t k = utf8_seq(p->s + p->pos, end - p->pos);
			if (!k) {
				free(o);
				return fail(p, "invalid UTF-8 in string");
			}
			memcpy(o + n, p->s + p->pos, k);
			n += k;
			p->pos += k;
			continue;
		}
		p->pos++;
		char e = (char)p->s[p->pos++];
		unsigned cp, lo;
		switch (e) {
		case '"': o[n++] = '"'; break;
		case '\\': o[n++] = '\\'; break;
		case '/': o[n++] = '/'; break;
		case 'b': o[n++] = '\b'; break;
		case 'f': o[n++] = '\f'; break;
		case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break;
		case 't': o[n++] = '\t'; break;
		case 'u':
			if (hex4(p, &cp) < 0)
				goto bad;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				fail(p, "lone low surrogate \\u%04x", cp);
				goto bad;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
					fail(p, "high surrogate \\u%04x not followed by a low one", cp);
					goto bad;
				}
				p->pos += 2;
				if (hex4(p, &lo) < 0)
					goto bad;
				if (lo < 0xdc00 || lo > 0xdfff) {
					fail(p, "high surrogate \\u%04x followed by \\u%04x", cp, lo);
					goto bad;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			n += put_utf8(o + n, cp);
			break;
		default:
			p->pos--;
			fail(p, "bad escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
			goto bad;
		}
		if (p->pos > end) { /* an escape ran over the closing quote we found: cannot happen, kept as a guard */
			fail(p, "unterminated string");
			goto bad;
		}
	}
	p->pos = end + 1;
	o[n] = 0;
	*out = o;
	*out_len = n;
	return 0;
bad:
	free(o);
	return -1;
}

static int parse_number(parser *p, json_value *v)
{
	size_t start = p->pos;
	const unsigned char *s = p->s;
	int plain = 1;
	if (p->pos < p->len && s[p->pos] == '-') {
		plain = 0;
		p->pos++;
	}
	if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
		return fail(p, "expected a digit");
	if (s[p->pos] == '0') {
		p->pos++;
		if (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			return fail(p, "leading zero in number");
	} else {
		while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && s[p->pos] == '.') {
		plain = 0;
		p->pos++;
		if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
			return fail(p, "expected a digit after '.'");
		while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			p->pos++;
	}
	if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
		plain = 0;
		p->pos++;
		if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
			return fail(p, "expected a digit in exponent");
		while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
			p->pos++;
	}
	size_t n = p->pos - start;
	char buf[64], *tmp = n < sizeof buf ? buf : malloc(n + 1);
	if (!tmp)
		return fail(p, "out of memory");
	memcpy(tmp, s + start, n);
	tmp[n] = 0;
	v->type = JSON_NUMBER;
	v->num = strtod(tmp, NULL); /* the grammar is already checked; overflow gives +-HUGE_VAL */
	if (tmp != buf)
		free(tmp);
	if (plain) {
		uint64_t u = 0;
		v->is_uint = 1;
		for (size_t i = start; i < p->pos; i++) {
			unsigned d = s[i] - '0';
			if (u > (UINT64_MAX - d) / 10) {
				v->is_uint = 0;
				break;
			}
			u = u * 10 + d;
		}
		v->u = v->is_uint ? u : 0;
	}
	return 0;
}

static int parse_value(parser *p, json_value *v, int depth);

static int append(parser *p, json_value *v, size_t *cap)
{
	if (v->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		json_value *ni = nc < SIZE_MAX / sizeof *ni ? realloc(v->items, nc * sizeof *ni) : NULL;
		if (!ni)
			return fail(p, "out of memory");
		v->items = ni;
		*cap = nc;
	}
	memset(&v->items[v->n], 0, sizeof v->items[0]);
	v->n++;
	return 0;
}

static int parse_container(parser *p, json_value *v, int depth)
{
	int obj = p->s[p->pos] == '{';
	char close = obj ? '}' : ']';
	size_t cap = 0;
	v->type = obj ? JSON_OBJECT : JSON_ARRAY;
	if (depth >= JSON_MAX_DEPTH)
		return fail(p, "nesting deeper than %d", JSON_MAX_DEPTH);
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (append(p, v, &cap) < 0)
			return -1;
		json_value *it = &v->items[v->n - 1];
		if (obj) {
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, "expected a string key");
			if (parse_string(p, &it->key, &it->key_len) < 0)
				return -1;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, "expected ':' after object key");
			p->pos++;
		}
		if (parse_value(p, it, depth + 1) < 0)
			return -1;
		skip_ws(p);
		if (p->pos >= p->len)
			return fail(p, "unexpected end inside %s", obj ? "object" : "array");
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] == close) {
			p->pos++;
			return 0;
		}
		return fail(p, "expected ',' or '%c'", close);
	}
}

static int literal(parser *p, const char *word, json_type t, json_value *v)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, "unexpected character");
	p->pos += n;
	v->type = t;
	return 0;
}

static int parse_value(parser *p, json_value *v, int depth)
{
	if (++p->values > p->max_values)
		return fail(p, "more than %zu values", p->max_values);
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, "unexpected end, expected a value");
	switch (p->s[p->pos]) {
	case '{':
	case '[':
		return parse_container(p, v, depth);
	case '"':
		v->type = JSON_STRING;
		return parse_string(p, &v->str, &v->str_len);
	case 't':
		return literal(p, "true", JSON_TRUE, v);
	case 'f':
		return literal(p, "false", JSON_FALSE, v);
	case 'n':
		return literal(p, "null", JSON_NULL, v);
	default:
		if (p->s[p->pos] == '-' || (p->s[p->pos] >= '0' && p->s[p->pos] <= '9'))
			return parse_number(p, v);
		return fail(p, "unexpected character 0x%02x", p->s[p->pos]);
	}
}

static void free_inner(json_value *v)
{
	for (size_t i = 0; i < v->n; i++)
		free_inner(&v->items[i]);
	free(v->items);
	free(v->key);
	free(v->str);
}

void json_free(json_value *v)
{
	if (!v)
		return;
	free_inner(v);
	free(v);
}

json_value *json_parse(const char *text, size_t len, char *why, size_t why_len)
{
	return json_parse_limited(text, len, SIZE_MAX, why, why_len);
}

json_value *json_parse_limited(const char *text, size_t len, size_t max_values, char *why, size_t why_len)
{
	parser p = {(const unsigned char *)text, len, 0, why, why_len, 0, 0, max_values};
	json_value *v = calloc(1, sizeof *v);
	if (!v) {
		fail(&p, "out of memory");
		return NULL;
	}
	if (parse_value(&p, v, 0) == 0) {
		skip_ws(&p);
		if (p.pos == p.len)
			return v;
		fail(&p, "trailing characters after the JSON value");
	}
	json_free(v);
	return NULL;
}

const json_value *json_get(const json_value *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	size_t kl = strlen(key);
	for (size_t i = 0; i < obj->n; i++)
		if (obj->items[i].key_len == kl && memcmp(obj->items[i].key, key, kl) == 0)
			return &obj->items[i];
	return NULL;
}
