/* threadpool.h: a fixed pool of worker threads for data-parallel loops (decoding, augmentation, tiles).
 *
 * The CPU kernels use OpenMP with an explicit thread count instead (kernels/ depend on nothing of ours); this pool
 * serves libcommon and the tools. Work is handed out in chunks from an atomic counter, so which thread runs item i
 * is not deterministic: results must depend only on i (see rng.h), never on the worker.
 */
#ifndef AVSL_THREADPOOL_H
#define AVSL_THREADPOOL_H

typedef struct threadpool threadpool;

/* fn(ctx, i, worker) is called once for every i in [0, n); worker in [0, nthreads) identifies per-thread scratch. */
typedef void (*pool_fn)(void *ctx, long i, int worker);

/* nthreads <= 0 means the number of online CPUs. nthreads == 1 runs everything on the caller's thread. */
threadpool *pool_create(int nthreads);
void pool_destroy(threadpool *p);
int pool_size(const threadpool *p);
/* Run fn over [0, n) and return when every call has finished. p may be NULL (runs serially). */
void pool_for(threadpool *p, long n, pool_fn fn, void *ctx);
/* Number of online CPUs (at least 1). */
int avsl_cpu_count(void);

#endif
