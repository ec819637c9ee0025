/* dist.h: data-parallel processes (MPI) for avsl-train, avsl-embed and avsl-graph.
 *
 * One process is rank 0 of 1 and every call below is a cheap no-op (or a copy), so the tools call them
 * unconditionally and a build without MPI (make MPI=0) links and runs unchanged. Under mpirun/srun a build with
 * MPI joins MPI_COMM_WORLD; a build without it refuses to start when the launcher says there are several ranks
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_SIZE or SLURM_NTASKS > 1), since N copies of a one-process run would each
 * write the same outputs.
 *
 * Faults: any die() on a rank aborts the whole job (MPI_Abort) after printing its message, which names the rank
 * (the program name becomes "avsl-train[rank 3]"); a rank killed outright is noticed by the launcher, which ends
 * the others. MPI errors print the rank and the MPI error string, then abort.
 *
 * Host buffers only: the device twin (NCCL, dist_nccl.h) is separate so this header needs no CUDA.
 */
#ifndef AVSL_DIST_H
#define AVSL_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Join the launcher's job if there is one (idempotent; call first thing in main, before threads start). Dies with
 * a one-line reason in a build without MPI launched as several ranks. */
void dist_init(int *argc, char ***argv);
/* Leave the job (MPI_Finalize); the tools call it before returning from main. */
void dist_finalize(void);
int dist_rank(void);
int dist_world(void);
/* Rank among the processes of this host (maps ranks to GPUs). */
int dist_local_rank(void);
/* Whether the MPI path is compiled in (make MPI=0 leaves it out). */
int dist_built(void);

/* In-place sums over all ranks (identical on every rank afterwards). */
void dist_allreduce_f32(float *buf, size_t n);
void dist_allreduce_f64(double *buf, size_t n);
/* The largest of the ranks' values (e.g. the first signal any rank received). */
int dist_max_int(int v);
/* root's bytes to every rank. */
void dist_bcast(void *buf, size_t bytes, int root);
void dist_barrier(void);

/* Rows spread over the ranks, rank r holding counts[r] consecutive rows of the global array (rank order):
 * dist_rows_plan gathers every rank's count (one small collective); then dist_gather_rows assembles the global
 * array on every rank (all = 1) or on rank 0 only (all = 0). */
typedef struct {
	int n;          /* this rank's rows */
	int first;      /* index of this rank's first row in the global array */
	int total;      /* rows over all ranks */
	int *counts;    /* (world) rows per rank */
} dist_rows;
void dist_rows_plan(dist_rows *r, int n);
void dist_rows_free(dist_rows *r);
void dist_gather_rows(const dist_rows *r, const void *local, size_t row_bytes, void *global, int all);

/* Gradient buckets summed while the backward pass runs: dist_bucket_start sums buf[0, n) over the ranks in the
 * background (MPI_Iallreduce); dist_progress lets MPI move pending buckets along (call it between layers);
 * dist_bucket_wait_all waits for every started bucket. At most DIST_MAX_BUCKETS in flight. */
enum { DIST_MAX_BUCKETS = 64 };
void dist_bucket_start(float *buf, size_t n);
void dist_progress(void);
void dist_bucket_wait_all(void);

/* Seconds this process spent blocked in the calls above since the last dist_comm_reset (the exposed
 * communication: a bucket summed during the backward pass counts only for the time its wait still blocks). */
double dist_comm_seconds(void);
void dist_comm_reset(void);

#endif
