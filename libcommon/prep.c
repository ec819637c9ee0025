/* prep.c: see prep.h. Worker threads claim items in order from a shared counter, decode, resize and compress
 * them into a ring of result slots; this thread (the writer) takes the results strictly in item order, reports
 * skipped files, decides where shards end and appends the records. Workers run at most a ring's length ahead of
 * the writer and never wait for each other, so a slow image delays nobody but the writer, and the output and the
 * diagnostics are the same for every thread count.
 */
#define _GNU_SOURCE
#include "prep.h"
#include "cli.h"
#include "image.h"
#include "progress.h"
#include "shard.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	shard_encoded enc;
	int ok;
	char why[600];
	uint64_t bytes_in;
} result;

typedef struct {
	const ds_split *s;
	const prep_opts *o;
	result *ring;         /* ring_n slots; item i uses slot i % ring_n */
	unsigned char *done;  /* per slot: the worker finished it */
	size_t ring_n;
	size_t next;          /* next item to claim */
	size_t written;       /* items the writer has taken */
	pthread_mutex_t mu;
	pthread_cond_t can_claim, finished;
} pipeline;

typedef struct {
	pipeline *p;
	void *zctx;
	pthread_t th;
} worker;

/* Read a whole file without dying: a missing or unreadable image is a skipped item, like a corrupt one. Only a
 * regular file is read: O_NONBLOCK so a FIFO named like an image never blocks the run, then fstat says what the
 * path is (a directory called x.jpg, a FIFO, a device). */
static unsigned char *slurp(const char *path, size_t *len, char *why, size_t why_len)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			snprintf(why, why_len, "dangling symbolic link");
		else
			snprintf(why, why_len, "%s", strerror(e));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, why_len, "not a regular file (%s)",
			 S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device");
		close(fd);
		return NULL;
	}
	FILE *fp = fdopen(fd, "rb");
	if (!fp) {
		snprintf(why, why_len, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	unsigned char *b = xmalloc(cap);
	for (;;) {
		if (n == cap)
			b = xrealloc(b, cap *= 2);
		size_t got = fread(b + n, 1, cap - n, fp);
		n += got;
		if (got == 0)
			break;
	}
	int err = ferror(fp);
	fclose(fp);
	if (err) {
		snprintf(why, why_len, "read error");
		free(b);
		return NULL;
	}
	*len = n;
	return b;
}

/* Process item `it` into r with the worker's compression context. */
static void work(const ds_item *it, const prep_opts *o, void **zctx, result *r)
{
	image_u8 im = {0}, small = {0};
	if (it->px) {
		im.h = it->h;
		im.w = it->w;
		im.c = 1;
		im.px = xmalloc((size_t)it->h * it->w);
		memcpy(im.px, it->px, (size_t)it->h * it->w);
		r->bytes_in = (uint64_t)it->h * it->w;
	} else {
		size_t len;
		unsigned char *data = slurp(it->file, &len, r->why, sizeof r->why);
		if (!data)
			return;
		r->bytes_in = len;
		/* keep gray images 1-channel (the loader replicates them), everything else RGB */
		int rc = image_decode(data, len, 0, &im, r->why, sizeof r->why);
		free(data);
		if (rc)
			return;
	}
	const image_u8 *use = &im;
	if (o->resize > 0) {
		image_resize_shorter(&im, o->resize, &small);
		use = &small;
	}
	shard_record rec = {0};
	rec.label = it->label;
	rec.super_label = it->super_label;
	rec.class_name = it->class_name;
	rec.path = it->rel;
	rec.height = (uint32_t)use->h;
	rec.width = (uint32_t)use->w;
	rec.channels = (uint32_t)use->c;
	rec.pixels = use->px;
	fmt_error err;
	if (shard_record_encode(&rec, o->level, zctx, &r->enc, &err))
		snprintf(r->why, sizeof r->why, "%s", err.msg);
	else
		r->ok = 1;
	image_free(&im);
	image_free(&small);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	pipeline *p = w->p;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->next < p->s->n && p->next >= p->written + p->ring_n)
			pthread_cond_wait(&p->can_claim, &p->mu);
		if (p->next >= p->s->n)
			break;
		size_t i = p->next++;
		pthread_mutex_unlock(&p->mu);
		result *r = &p->ring[i % p->ring_n]; /* ours alone: the writer is done with item i - ring_n */
		memset(r, 0, sizeof *r);
		work(&p->s->items[i], p->o, &w->zctx, r);
		pthread_mutex_lock(&p->mu);
		p->done[i % p->ring_n] = 1;
		pthread_cond_broadcast(&p->finished);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

typedef struct {
	const char *out;
	int multi;
	int level;
	out_set *set;      /* the shards and the manifest, renamed together by the caller */
	out_file *f;       /* the shard being written */
	shard_writer *w;
	char **names;      /* shard file names (basenames) */
	uint64_t *counts;
	int n;
	uint64_t bytes_out;
} sink;

static void sink_open(sink *k)
{
	char *path = k->multi ? xasprintf("%s-%05d.avs", k->out, k->n) : xstrdup(k->out);
	k->f = out_set_open(k->set, path, 1);
	fmt_error err;
	if (shard_writer_open(&k->w, k->f->fp, path, k->level, &err))
		die("%s", err.msg);
	const char *slash = strrchr(path, '/');
	k->names = xrealloc_array(k->names, (size_t)k->n + 1, sizeof *k->names);
	k->counts = xrealloc_array(k->counts, (size_t)k->n + 1, sizeof *k->counts);
	k->names[k->n] = xstrdup(slash ? slash + 1 : path);
	k->counts[k->n] = 0;
	k->n++;
	free(path);
}

static void sink_close(sink *k)
{
	fmt_error err;
	uint64_t total;
	k->counts[k->n - 1] = shard_writer_count(k->w);
	if (shard_writer_finish(k->w, &total, &err))
		die("%s", err.msg);
	k->w = NULL;
	out_finish(k->f); /* synced and closed; renamed with the rest of the set */
	k->bytes_out += total;
}

void prep_split(const ds_split *s, const char *out, int multi, const prep_opts *o, prep_stats *st)
{
	out_set set = {0};
	prep_split_into(s, out, multi, o, st, &set);
	out_set_commit(&set);
}

void prep_split_into(const ds_split *s, const char *out, int multi, const prep_opts *o, prep_stats *st, out_set *set)
{
	memset(st, 0, sizeof *st);
	double t0 = avsl_now();
	int nw = o->threads > 0 ? o->threads : 1;
	pipeline p = {.s = s, .o = o, .ring_n = (size_t)nw * 16};
	p.ring = xcalloc(p.ring_n, sizeof *p.ring);
	p.done = xcalloc(p.ring_n, 1);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.can_claim, NULL);
	pthread_cond_init(&p.finished, NULL);
	worker *ws = xcalloc((size_t)nw, sizeof *ws);
	for (int i = 0; i < nw; i++) {
		ws[i].p = &p;
		if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0)
			die("cannot start worker thread %d: %s", i, strerror(errno));
	}
	sink k = {out, multi, o->level, set};
	sink_open(&k);
	progress pr;
	char label[64];
	snprintf(label, sizeof label, "prep %s", s->name);
	progress_start(&pr, label, "img", s->n, o->verbosity == CLI_QUIET);
	for (size_t i = 0; i < s->n; i++) {
		size_t slot = i % p.ring_n;
		pthread_mutex_lock(&p.mu);
		while (!p.done[slot])
			pthread_cond_wait(&p.finished, &p.mu);
		pthread_mutex_unlock(&p.mu);
		result *r = &p.ring[slot];
		const ds_item *it = &s->items[i];
		st->bytes_in += r->bytes_in;
		if (!r->ok) {
			if (o->strict) {
				die("%s: %s (--strict)", it->file ? it->file : it->rel, r->why);
			}
			warn("%s: %s; skipped", it->file ? it->file : it->rel, r->why);
			st->skipped++;
		} else {
			uint64_t cnt = shard_writer_count(k.w);
			if (multi && cnt > 0 &&
			    ((o->shard_records && cnt >= o->shard_records) ||
			     (o->shard_bytes && shard_writer_bytes(k.w) + r->enc.size > o->shard_bytes))) {
				sink_close(&k);
				sink_open(&k);
			}
			fmt_error err;
			if (shard_writer_put(k.w, &r->enc, &err))
				die("%s", err.msg);
			st->images++;
			shard_encoded_free(&r->enc);
		}
		pthread_mutex_lock(&p.mu);
		p.done[slot] = 0;
		p.written = i + 1;
		pthread_cond_broadcast(&p.can_claim);
		pthread_mutex_unlock(&p.mu);
		progress_add(&pr, 1);
	}
	for (int i = 0; i < nw; i++)
		pthread_join(ws[i].th, NULL);
	progress_end(&pr);
	sink_close(&k);
	if (multi) {
		char *mpath = xasprintf("%s.avsm", out);
		out_file *mf = out_set_open(set, mpath, 0); /* last in the set: renamed after every shard */
		fmt_error err;
		if (shard_manifest_write(mf->fp, mpath, k.names, k.counts, k.n, &err))
			die("%s", err.msg);
		free(mpath);
	}
	for (int i = 0; i < k.n; i++)
		free(k.names[i]);
	free(k.names);
	free(k.counts);
	for (int i = 0; i < nw; i++)
		shard_zctx_free(ws[i].zctx);
	free(ws);
	free(p.ring);
	free(p.done);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.can_claim);
	pthread_cond_destroy(&p.finished);
	st->bytes_out = k.bytes_out;
	st->shards = (uint64_t)k.n;
	st->classes = ds_split_classes(s);
	st->seconds = avsl_now() - t0;
}
