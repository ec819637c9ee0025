/* threadpool.c: see threadpool.h. One job at a time; workers sleep on a condition variable between jobs. */
#include "threadpool.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct threadpool {
	int n;                 /* threads including the caller */
	pthread_t *threads;    /* n - 1 workers */
	pthread_mutex_t mu;
	pthread_cond_t wake, done;
	long generation;       /* bumped for every job so sleeping workers notice a new one */
	int stopping;
	/* current job */
	pool_fn fn;
	void *ctx;
	long count;
	atomic_long next;
	int busy;              /* workers still inside the current job */
};

int avsl_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static void run_items(threadpool *p, int worker)
{
	for (;;) {
		long i = atomic_fetch_add(&p->next, 1);
		if (i >= p->count)
			break;
		p->fn(p->ctx, i, worker);
	}
}

struct worker_arg {
	threadpool *p;
	int id;
};

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	threadpool *p = wa->p;
	int id = wa->id;
	free(wa);
	long seen = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stopping && p->generation == seen)
			pthread_cond_wait(&p->wake, &p->mu);
		if (p->stopping)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->mu);
		run_items(p, id);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

threadpool *pool_create(int nthreads)
{
	if (nthreads <= 0)
		nthreads = avsl_cpu_count();
	threadpool *p = xcalloc(1, sizeof *p);
	p->n = nthreads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = xcalloc((size_t)nthreads, sizeof *p->threads);
	for (int i = 1; i < nthreads; i++) {
		struct worker_arg *wa = xmalloc(sizeof *wa);
		wa->p = p;
		wa->id = i;
		if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0)
			die("cannot create a worker thread");
	}
	return p;
}

void pool_destroy(threadpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->threads[i - 1], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p);
}

int pool_size(const threadpool *p) { return p ? p->n : 1; }

void pool_for(threadpool *p, long n, pool_fn fn, void *ctx)
{
	if (n <= 0)
		return;
	if (!p || p->n == 1 || n == 1) {
		for (long i = 0; i < n; i++)
			fn(ctx, i, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->count = n;
	atomic_store(&p->next, 0);
	p->busy = p->n - 1;
	p->generation++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	run_items(p, 0);
	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
