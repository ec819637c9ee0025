/* loader.c: see loader.h.
 *
 * Prefetching: one producer thread owns the thread pool. The caller hands it one job at a time (batch k into
 * buffer slot s) and, when taking batch k, immediately asks for batch k + 1 in the other slot, so decoding overlaps
 * the caller's training step. Every sample's pixels depend only on (seed, epoch, record index), so prefetching and
 * thread count change timing, never values.
 */
#include "loader.h"
#include "image.h"
#include "rng.h"
#include "shard.h"
#include "threadpool.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JOB_IDLE = 0, JOB_PENDING, JOB_RUNNING, JOB_DONE };

typedef struct {
	float *x;        /* (batch, channels, out_h, out_w) */
	int32_t *labels; /* (batch) */
	int64_t *ids;    /* (batch) */
	int n;           /* images in this slot, -1 after a read error */
} slot;

struct loader {
	loader_config cfg;
	char *path;
	shard_reader *rd;
	uint64_t count;
	int32_t num_classes;
	threadpool *pool;
	shard_buf *bufs;    /* (nbufs) one per pool worker */
	int nbufs;
	uint64_t *order;    /* (count) record order of the current epoch */
	int epoch;
	int64_t nbatches;
	uint64_t lo, hi;    /* eval: this rank's records [lo, hi) */
	int64_t next_batch; /* batch the caller gets next */
	int started;
	slot slots[2];
	int cur_slot;       /* slot holding (or being filled with) next_batch */
	/* producer thread */
	pthread_t thread;
	int have_thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int job_state, job_slot, stop;
	int64_t job_batch;
	/* errors inside a job (first one wins) */
	pthread_mutex_t err_mu;
	int failed;
	char err[512];
};

void loader_config_default(loader_config *c)
{
	memset(c, 0, sizeof *c);
	c->batch = 180;
	c->out_h = c->out_w = 224;
	c->channels = 3;
	c->train = 1;
	c->resize = 256;
	c->scale_lo = 0.16f, c->scale_hi = 1.0f;
	c->ratio_lo = 0.75f, c->ratio_hi = 1.33f;
	c->flip = 1;
	c->mean[0] = 0.485f, c->mean[1] = 0.456f, c->mean[2] = 0.406f;
	c->std[0] = 0.229f, c->std[1] = 0.224f, c->std[2] = 0.225f;
	c->prefetch = 1;
	c->rank = 0;
	c->world = 1;
}

void loader_train_params(const loader_config *c, int epoch, uint64_t idx, int H, int W, crop_box *box, int *flip)
{
	/* torchvision order: RandomResizedCrop draws first, then RandomHorizontalFlip. */
	rng r;
	rng_init(&r, c->seed, rng_stream_id((uint64_t)epoch, idx, LOADER_RNG_AUG));
	*box = random_resized_crop_box(H, W, c->scale_lo, c->scale_hi, c->ratio_lo, c->ratio_hi, &r);
	*flip = c->flip && rng_uniform(&r) < 0.5f;
}

/* ---- one batch ---- */

typedef struct {
	loader *l;
	slot *s;
	int64_t batch;
	uint64_t first; /* position in the epoch order of item 0 */
} job_ctx;

static void job_fail(loader *l, const char *msg)
{
	pthread_mutex_lock(&l->err_mu);
	if (!l->failed) {
		l->failed = 1;
		snprintf(l->err, sizeof l->err, "%s", msg);
	}
	pthread_mutex_unlock(&l->err_mu);
}

static int has_failed(loader *l)
{
	pthread_mutex_lock(&l->err_mu);
	int f = l->failed;
	pthread_mutex_unlock(&l->err_mu);
	return f;
}

static void make_sample(void *vctx, long i, int worker)
{
	job_ctx *j = vctx;
	loader *l = j->l;
	const loader_config *c = &l->cfg;
	uint64_t idx = l->order ? l->order[j->first + (uint64_t)i] : j->first + (uint64_t)i;
	shard_record rec;
	fmt_error ferr;
	if (shard_reader_get(l->rd, idx, &l->bufs[worker], &rec, &ferr)) {
		job_fail(l, ferr.msg);
		return;
	}
	if (rec.height == 0 || rec.width == 0 || (rec.channels != 1 && rec.channels != 3)) {
		char msg[sizeof l->err];
		snprintf(msg, sizeof msg, "%.400s: record %llu: unsupported image %ux%ux%u", l->path, (unsigned long long)idx,
			 rec.height, rec.width, rec.channels);
		job_fail(l, msg);
		return;
	}
	/* A view of the record's pixels (borrowed: never freed through it). */
	image_u8 view = {(int)rec.height, (int)rec.width, (int)rec.channels, (uint8_t *)rec.pixels};
	image_u8 resized = {0};
	const image_u8 *im = &view;
	int shorter = view.h < view.w ? view.h : view.w;
	if (c->resize > 0 && shorter != c->resize) {
		image_resize_shorter(&view, c->resize, &resized);
		im = &resized;
	}
	crop_box box;
	int flip = 0;
	if (c->train) {
		loader_train_params(c, l->epoch, idx, im->h, im->w, &box, &flip);
	} else {
		box = center_crop_box(im->h, im->w, c->out_h < im->h ? c->out_h : im->h,
				      c->out_w < im->w ? c->out_w : im->w);
	}
	size_t plane = (size_t)c->channels * c->out_h * c->out_w;
	image_to_tensor(im, box, c->out_h, c->out_w, flip, c->mean, c->std, c->channels, j->s->x + (size_t)i * plane);
	j->s->labels[i] = rec.label;
	j->s->ids[i] = (int64_t)idx;
	image_free(&resized);
}

static void run_job(loader *l, int64_t batch, int si)
{
	slot *s = &l->slots[si];
	const uint64_t B = (uint64_t)l->cfg.batch;
	uint64_t first, end;
	if (l->cfg.train) { /* this rank's slice [B r / w, B (r + 1) / w) of global batch `batch` */
		const uint64_t r = (uint64_t)l->cfg.rank, w = (uint64_t)l->cfg.world;
		first = (uint64_t)batch * B + B * r / w;
		end = (uint64_t)batch * B + B * (r + 1) / w;
	} else {
		first = l->lo + (uint64_t)batch * B;
		end = first + B < l->hi ? first + B : l->hi;
	}
	int n = (int)(end - first);
	job_ctx j = {l, s, batch, first};
	pool_for(l->pool, n, make_sample, &j);
	pthread_mutex_lock(&l->err_mu);
	s->n = l->failed ? -1 : n;
	pthread_mutex_unlock(&l->err_mu);
}

static void *producer_main(void *arg)
{
	loader *l = arg;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->stop && l->job_state != JOB_PENDING)
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->stop)
			break;
		l->job_state = JOB_RUNNING;
		int64_t b = l->job_batch;
		int si = l->job_slot;
		pthread_mutex_unlock(&l->mu);
		run_job(l, b, si);
		pthread_mutex_lock(&l->mu);
		l->job_state = JOB_DONE;
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* Ask for batch b in slot si (runs it now when not prefetching). */
static void request(loader *l, int64_t b, int si)
{
	if (!l->have_thread) {
		run_job(l, b, si);
		l->job_state = JOB_DONE;
		return;
	}
	pthread_mutex_lock(&l->mu);
	l->job_batch = b;
	l->job_slot = si;
	l->job_state = JOB_PENDING;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* Wait until no job is queued or running. */
static void wait_idle(loader *l)
{
	if (!l->have_thread)
		return;
	pthread_mutex_lock(&l->mu);
	while (l->job_state == JOB_PENDING || l->job_state == JOB_RUNNING)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

/* ---- public ---- */

static int check_config(const loader_config *c, const char *path, fmt_error *err)
{
	if (c->batch < 1)
		return fmt_fail(err, "%s: loader: batch %d must be at least 1", path, c->batch);
	if (c->out_h < 1 || c->out_w < 1 || c->out_h > 65536 || c->out_w > 65536)
		return fmt_fail(err, "%s: loader: output size %dx%d out of range", path, c->out_h, c->out_w);
	if (c->channels != 1 && c->channels != 3)
		return fmt_fail(err, "%s: loader: channels %d must be 1 or 3", path, c->channels);
	if (c->world < 1 || c->rank < 0 || c->rank >= c->world)
		return fmt_fail(err, "%s: loader: rank %d of %d out of range", path, c->rank, c->world);
	if (c->resize < 0)
		return fmt_fail(err, "%s: loader: resize %d is negative", path, c->resize);
	if (c->train && !(c->scale_lo > 0 && c->scale_lo <= c->scale_hi && c->scale_hi <= 1))
		return fmt_fail(err, "%s: loader: crop scale [%g, %g] must satisfy 0 < lo <= hi <= 1", path,
				(double)c->scale_lo, (double)c->scale_hi);
	if (c->train && !(c->ratio_lo > 0 && c->ratio_lo <= c->ratio_hi))
		return fmt_fail(err, "%s: loader: crop ratio [%g, %g] must satisfy 0 < lo <= hi", path,
				(double)c->ratio_lo, (double)c->ratio_hi);
	for (int i = 0; i < c->channels; i++)
		if (!(c->std[i] > 0))
			return fmt_fail(err, "%s: loader: std[%d] = %g must be positive", path, i, (double)c->std[i]);
	return 0;
}

loader *loader_open(const char *path, const loader_config *cfg, fmt_error *err)
{
	if (check_config(cfg, path, err))
		return NULL;
	shard_reader *rd;
	if (shard_reader_open(&rd, path, err))
		return NULL;
	uint64_t count = shard_reader_count(rd);
	if (cfg->train && cfg->batch < cfg->world) {
		fmt_fail(err, "%s: loader: a training batch of %d cannot be split over %d ranks", path, cfg->batch,
			 cfg->world);
		return NULL;
	}
	if (count == 0 || (cfg->train && count < (uint64_t)cfg->batch)) {
		fmt_fail(err, "%s: %llu records, fewer than one training batch of %d", path, (unsigned long long)count,
			 cfg->batch);
		if (count == 0 && !cfg->train)
			fmt_fail(err, "%s: no records", path);
		shard_reader_close(rd);
		return NULL;
	}
	loader *l = xcalloc(1, sizeof *l);
	l->cfg = *cfg;
	l->path = xstrdup(path);
	l->rd = rd;
	l->count = count;
	l->num_classes = shard_reader_num_classes(rd);
	l->pool = pool_create(cfg->threads);
	l->nbufs = pool_size(l->pool);
	l->bufs = xcalloc((size_t)l->nbufs, sizeof *l->bufs);
	/* eval: whole batches of the one-process schedule, so every image is computed in the same batch (same size,
	 * same neighbours) as one process would: outputs are then byte-identical whatever the rank count */
	uint64_t B = (uint64_t)cfg->batch, nb = (count + B - 1) / B, r = (uint64_t)cfg->rank, w = (uint64_t)cfg->world;
	l->lo = B * (nb * r / w) < count ? B * (nb * r / w) : count;
	l->hi = B * (nb * (r + 1) / w) < count ? B * (nb * (r + 1) / w) : count;
	l->nbatches = cfg->train ? (int64_t)(count / (uint64_t)cfg->batch)
				 : (int64_t)((l->hi - l->lo + (uint64_t)cfg->batch - 1) / (uint64_t)cfg->batch);
	if (cfg->train)
		l->order = xmalloc_array(count, sizeof *l->order);
	size_t per = (size_t)cfg->channels * cfg->out_h * cfg->out_w;
	size_t cap = (size_t)loader_rank_batch(cfg);
	for (int s = 0; s < 2; s++) {
		l->slots[s].x = xmalloc_array(cap, per * sizeof(float));
		l->slots[s].labels = xmalloc_array(cap, sizeof(int32_t));
		l->slots[s].ids = xmalloc_array(cap, sizeof(int64_t));
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	pthread_mutex_init(&l->err_mu, NULL);
	if (cfg->prefetch) {
		if (pthread_create(&l->thread, NULL, producer_main, l) != 0)
			die("cannot create the loader thread");
		l->have_thread = 1;
	}
	return l;
}

int loader_rank_batch(const loader_config *c)
{
	if (!c->train || c->world <= 1)
		return c->batch;
	return (int)(((int64_t)c->batch + c->world - 1) / c->world);
}

loader *loader_open_or_die(const char *path, const loader_config *cfg)
{
	fmt_error err;
	loader *l = loader_open(path, cfg, &err);
	if (!l)
		die("%s", err.msg);
	return l;
}

void loader_close(loader *l)
{
	if (!l)
		return;
	if (l->have_thread) {
		wait_idle(l);
		pthread_mutex_lock(&l->mu);
		l->stop = 1;
		pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	pool_destroy(l->pool);
	for (int i = 0; i < l->nbufs; i++)
		shard_buf_free(&l->bufs[i]);
	free(l->bufs);
	shard_reader_close(l->rd);
	for (int s = 0; s < 2; s++) {
		free(l->slots[s].x);
		free(l->slots[s].labels);
		free(l->slots[s].ids);
	}
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->err_mu);
	free(l->order);
	free(l->path);
	free(l);
}

uint64_t loader_rank_count(const loader *l) { return l->cfg.train ? l->count : l->hi - l->lo; }
uint64_t loader_rank_first(const loader *l) { return l->cfg.train ? 0 : l->lo; }

uint64_t loader_count(const loader *l) { return l->count; }
int32_t loader_num_classes(const loader *l) { return l->num_classes; }
int64_t loader_num_batches(const loader *l) { return l->nbatches; }
int32_t loader_label(const loader *l, uint64_t i) { return shard_reader_label(l->rd, i); }
const char *loader_error(const loader *l) { return l->err; }

void loader_start_epoch(loader *l, int epoch) { loader_start_epoch_at(l, epoch, 0); }

void loader_start_epoch_at(loader *l, int epoch, int64_t first_batch)
{
	wait_idle(l);
	l->epoch = epoch;
	if (l->cfg.train) {
		/* Fisher-Yates from the epoch's own stream: the order is a pure function of (seed, epoch). */
		rng r;
		rng_init(&r, l->cfg.seed, rng_stream_id((uint64_t)epoch, 0, LOADER_RNG_PERM));
		for (uint64_t i = 0; i < l->count; i++)
			l->order[i] = i;
		for (uint64_t i = l->count - 1; i > 0; i--) {
			uint64_t j;
			if (i < UINT32_MAX)
				j = rng_below(&r, (uint32_t)(i + 1));
			else
				j = (((uint64_t)rng_u32(&r) << 32) | rng_u32(&r)) % (i + 1);
			uint64_t t = l->order[i];
			l->order[i] = l->order[j];
			l->order[j] = t;
		}
	}
	if (first_batch < 0)
		first_batch = 0;
	l->next_batch = first_batch;
	l->cur_slot = 0;
	l->started = 1;
	if (!has_failed(l) && first_batch < l->nbatches)
		request(l, first_batch, 0);
}

int loader_next_borrow(loader *l, const float **x, const int32_t **labels, const int64_t **ids)
{
	if (!l->started)
		die("internal error: loader_next before loader_start_epoch");
	if (l->next_batch >= l->nbatches && !has_failed(l))
		return 0;
	wait_idle(l);
	slot *s = &l->slots[l->cur_slot];
	if (has_failed(l) || s->n < 0)
		return -1;
	int n = s->n;
	*x = s->x;
	*labels = s->labels;
	if (ids)
		*ids = s->ids;
	l->next_batch++;
	l->cur_slot ^= 1;
	if (l->next_batch < l->nbatches)
		request(l, l->next_batch, l->cur_slot);
	return n;
}

int loader_next(loader *l, float *x, int32_t *labels, int64_t *ids)
{
	const float *bx;
	const int32_t *bl;
	const int64_t *bi;
	int n = loader_next_borrow(l, &bx, &bl, &bi);
	if (n <= 0)
		return n;
	size_t per = (size_t)l->cfg.channels * l->cfg.out_h * l->cfg.out_w;
	memcpy(x, bx, (size_t)n * per * sizeof(float));
	memcpy(labels, bl, (size_t)n * sizeof(int32_t));
	if (ids)
		memcpy(ids, bi, (size_t)n * sizeof(int64_t));
	return n;
}
