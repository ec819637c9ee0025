/* prep.c: see prep.h. Work is done in batches: the pool decodes, resizes and compresses a batch (any worker, any
 * order), then this thread appends the results in item order, reports skipped files in item order and decides
 * where shards end, so output and diagnostics are the same for every thread count.
 */
#define _GNU_SOURCE
#include "prep.h"
#include "cli.h"
#include "image.h"
#include "progress.h"
#include "shard.h"
#include "threadpool.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	shard_encoded enc;
	int ok;
	char why[600];
	uint64_t bytes_in;
} result;

typedef struct {
	const ds_split *s;
	const prep_opts *o;
	size_t first;
	result *res;
	void **zctx; /* per worker */
} batch;

/* Read a whole file without dying: a missing or unreadable image is a skipped item, like a corrupt one. */
static unsigned char *slurp(const char *path, size_t *len, char *why, size_t why_len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		snprintf(why, why_len, "%s", strerror(errno));
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

static void work(void *ctx, long k, int worker)
{
	batch *b = ctx;
	const ds_item *it = &b->s->items[b->first + (size_t)k];
	result *r = &b->res[k];
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
	if (b->o->resize > 0) {
		image_resize_shorter(&im, b->o->resize, &small);
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
	if (shard_record_encode(&rec, b->o->level, &b->zctx[worker], &r->enc, &err))
		snprintf(r->why, sizeof r->why, "%s", err.msg);
	else
		r->ok = 1;
	image_free(&im);
	image_free(&small);
}

typedef struct {
	const char *out;
	int multi;
	int level;
	out_file f;
	shard_writer *w;
	char **names;      /* shard file names (basenames) */
	uint64_t *counts;
	int n;
	uint64_t bytes_out;
} sink;

static void sink_open(sink *k)
{
	char *path = k->multi ? xasprintf("%s-%05d.avs", k->out, k->n) : xstrdup(k->out);
	out_open(&k->f, path, 1);
	fmt_error err;
	if (shard_writer_open(&k->w, k->f.fp, path, k->level, &err)) {
		out_abort(&k->f);
		die("%s", err.msg);
	}
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
	if (shard_writer_finish(k->w, &total, &err)) {
		out_abort(&k->f);
		die("%s", err.msg);
	}
	k->w = NULL;
	out_commit(&k->f);
	k->bytes_out += total;
}

void prep_split(const ds_split *s, const char *out, int multi, const prep_opts *o, prep_stats *st)
{
	memset(st, 0, sizeof *st);
	double t0 = avsl_now();
	threadpool *pool = pool_create(o->threads);
	int nw = pool_size(pool);
	void **zctx = xcalloc((size_t)nw, sizeof *zctx);
	size_t bsize = (size_t)nw * 32;
	result *res = xcalloc(bsize, sizeof *res);
	sink k = {out, multi, o->level};
	sink_open(&k);
	progress pr;
	char label[64];
	snprintf(label, sizeof label, "prep %s", s->name);
	progress_start(&pr, label, "img", s->n, o->verbosity == CLI_QUIET);
	for (size_t first = 0; first < s->n; first += bsize) {
		size_t n = s->n - first < bsize ? s->n - first : bsize;
		memset(res, 0, n * sizeof *res);
		batch b = {s, o, first, res, zctx};
		pool_for(pool, (long)n, work, &b);
		for (size_t i = 0; i < n; i++) {
			result *r = &res[i];
			const ds_item *it = &s->items[first + i];
			st->bytes_in += r->bytes_in;
			if (!r->ok) {
				if (o->strict) {
					out_abort(&k.f);
					die("%s: %s (--strict)", it->file ? it->file : it->rel, r->why);
				}
				warn("%s: %s; skipped", it->file ? it->file : it->rel, r->why);
				st->skipped++;
				continue;
			}
			uint64_t cnt = shard_writer_count(k.w);
			if (multi && cnt > 0 &&
			    ((o->shard_records && cnt >= o->shard_records) ||
			     (o->shard_bytes && shard_writer_bytes(k.w) + r->enc.size > o->shard_bytes))) {
				sink_close(&k);
				sink_open(&k);
			}
			fmt_error err;
			if (shard_writer_put(k.w, &r->enc, &err)) {
				out_abort(&k.f);
				die("%s", err.msg);
			}
			st->images++;
			shard_encoded_free(&r->enc);
		}
		progress_add(&pr, n);
	}
	progress_end(&pr);
	sink_close(&k);
	if (multi) {
		char *mpath = xasprintf("%s.avsm", out);
		out_file mf;
		out_open(&mf, mpath, 0);
		fmt_error err;
		if (shard_manifest_write(mf.fp, mpath, k.names, k.counts, k.n, &err)) {
			out_abort(&mf);
			die("%s", err.msg);
		}
		out_commit(&mf);
		free(mpath);
	}
	for (int i = 0; i < k.n; i++)
		free(k.names[i]);
	free(k.names);
	free(k.counts);
	for (int i = 0; i < nw; i++)
		shard_zctx_free(zctx[i]);
	free(zctx);
	free(res);
	pool_destroy(pool);
	st->bytes_out = k.bytes_out;
	st->shards = (uint64_t)k.n;
	st->classes = ds_split_classes(s);
	st->seconds = avsl_now() - t0;
}
