/* dist_nccl.h: the device twin of dist.h: sums of GPU buffers over the ranks with NCCL, for the trainer's device
 * path (-d cuda). One communicator per process on the GPU of its local rank, bootstrapped through MPI (rank 0's
 * ncclUniqueId broadcast with dist_bcast). Compiled when make finds CUDA, MPI and NCCL (AVSL_HAVE_NCCL); without
 * them dist_nccl_init dies with the reason and the rest is never reached. Streams are passed as void * so callers
 * need no CUDA header.
 */
#ifndef AVSL_DIST_NCCL_H
#define AVSL_DIST_NCCL_H

#include <stddef.h>

int dist_nccl_built(void);
/* After dist_init: select GPU dist_local_rank() and create the communicator over all ranks (idempotent). */
void dist_nccl_init(void);
/* In-place sum of buf (n floats on this rank's GPU) over the ranks, enqueued on stream (a cudaStream_t; NULL: the
 * default stream). Returns once enqueued; synchronise the stream before reading buf on the host. */
void dist_nccl_allreduce_f32(float *buf, size_t n, void *stream);
void dist_nccl_finalize(void);

#endif
