/* trainlog.c: see trainlog.h. */
#include "trainlog.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int trainlog_open(trainlog *t, const char *path)
{
	memset(t, 0, sizeof *t);
	if (!path)
		return 0;
	t->fp = fopen(path, "a");
	if (!t->fp)
		return -1;
	t->own = 1;
	return 0;
}

void trainlog_attach(trainlog *t, FILE *fp)
{
	t->fp = fp;
	t->own = 0;
}

void trainlog_close(trainlog *t)
{
	if (t->fp && t->own)
		fclose(t->fp);
	t->fp = NULL;
}

/* A growing snprintf target that remembers how much it would have needed. */
typedef struct {
	char *buf;
	size_t len, used;
} sbuf;

static void put(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = s->used < s->len ? s->len - s->used : 0;
	int n = vsnprintf(room ? s->buf + s->used : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->used += (size_t)n;
}

/* JSON has no NaN/Inf: write null so the line stays parseable (a diverged loss is still visible). */
static void put_num(sbuf *s, double v)
{
	if (isfinite(v))
		put(s, "%.9g", v);
	else
		put(s, "null");
}

static const char *const group_key[3] = {"trunk", "embedder", "collector"};

int trainlog_format(char *buf, size_t len, const char *type, const trainlog_entry *e)
{
	sbuf s = {buf, len, 0};
	if (len)
		buf[0] = 0;
	put(&s, "{\"type\":\"%s\",\"epoch\":%d,\"step\":%lld", type, e->epoch, (long long)e->step);
	put(&s, ",\"losses\":{");
	for (int i = 0; i < e->n_losses && i < TRAINLOG_MAX_LOSSES; i++) {
		put(&s, "%s\"%s\":", i ? "," : "", e->loss_name[i] ? e->loss_name[i] : "loss");
		put_num(&s, e->loss[i]);
	}
	put(&s, "},\"lr\":{");
	for (int g = 0; g < 3; g++) {
		put(&s, "%s\"%s\":", g ? "," : "", group_key[g]);
		put_num(&s, e->lr[g]);
	}
	put(&s, "},\"active\":{");
	for (int g = 0; g < 3; g++)
		put(&s, "%s\"%s\":%s", g ? "," : "", group_key[g], e->active[g] ? "true" : "false");
	put(&s, "},\"img_s\":");
	put_num(&s, e->img_s);
	put(&s, ",\"seconds\":");
	put_num(&s, e->seconds);
	if (e->data_wait >= 0) {
		put(&s, ",\"data_wait\":");
		put_num(&s, e->data_wait);
	}
	if (e->n_recall > 0) {
		put(&s, ",\"recall\":{");
		for (int i = 0; i < e->n_recall && i < TRAINLOG_MAX_METRICS; i++) {
			put(&s, "%s\"%d\":", i ? "," : "", e->recall_k[i]);
			put_num(&s, e->recall[i]);
		}
		put(&s, "},\"best\":%s", e->best ? "true" : "false");
	}
	for (int i = 0; i < e->n_metrics && i < TRAINLOG_MAX_METRICS; i++) {
		put(&s, ",\"%s\":", e->metric_name[i]);
		put_num(&s, e->metric[i]);
	}
	put(&s, "}");
	return (int)s.used;
}

static int write_line(trainlog *t, const char *type, const trainlog_entry *e)
{
	if (!t->fp)
		return 0;
	char small[2048];
	int n = trainlog_format(small, sizeof small, type, e);
	char *buf = small;
	if ((size_t)n >= sizeof small) {
		buf = malloc((size_t)n + 1);
		if (!buf)
			return -1;
		trainlog_format(buf, (size_t)n + 1, type, e);
	}
	int rc = fprintf(t->fp, "%s\n", buf) < 0 || fflush(t->fp) ? -1 : 0;
	if (buf != small)
		free(buf);
	return rc;
}

int trainlog_step(trainlog *t, const trainlog_entry *e) { return write_line(t, "step", e); }
int trainlog_epoch(trainlog *t, const trainlog_entry *e) { return write_line(t, "epoch", e); }

int trainlog_summary(char *buf, size_t len, int epochs, const trainlog_entry *e)
{
	sbuf s = {buf, len, 0};
	if (len)
		buf[0] = 0;
	put(&s, "epoch %d/%d", e->epoch, epochs);
	if (e->n_losses > 0) {
		put(&s, "  loss %.4f", e->loss[0]);
		if (e->n_losses > 1) {
			put(&s, " (");
			for (int i = 1; i < e->n_losses && i < TRAINLOG_MAX_LOSSES; i++)
				put(&s, "%s%.4f", i > 1 ? " " : "", e->loss[i]);
			put(&s, ")");
		}
	}
	put(&s, "  lr");
	for (int g = 0; g < 3; g++) {
		if (e->active[g])
			put(&s, " %.3g", e->lr[g]);
		else
			put(&s, " warm-up");
	}
	put(&s, "  %.1f img/s  %.1f s", e->img_s, e->seconds);
	for (int i = 0; i < e->n_recall && i < TRAINLOG_MAX_METRICS; i++)
		put(&s, "%sR@%d %.2f", i ? " " : "  ", e->recall_k[i], 100.0 * e->recall[i]);
	if (e->n_recall > 0 && e->best)
		put(&s, " *");
	return (int)s.used;
}

void trainlog_print_summary(FILE *fp, int epochs, const trainlog_entry *e)
{
	char buf[1024];
	trainlog_summary(buf, sizeof buf, epochs, e);
	fprintf(fp, "%s\n", buf);
	fflush(fp);
}
