/* dist_nccl.c: see dist_nccl.h. */
#include "dist_nccl.h"
#include "dist.h"
#include "util.h"

#ifdef AVSL_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

static ncclComm_t g_comm;
static int g_ready;

int dist_nccl_built(void) { return 1; }

void dist_nccl_init(void)
{
	if (g_ready)
		return;
	int ndev = 0;
	if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev < 1)
		die("NCCL: no CUDA device visible to this rank");
	/* Ranks map to GPUs by local rank (several hosts: each host's ranks 0.. share its GPUs). */
	int dev = dist_local_rank() % ndev;
	cudaError_t ce = cudaSetDevice(dev);
	if (ce != cudaSuccess)
		die("NCCL: cudaSetDevice(%d): %s", dev, cudaGetErrorString(ce));
	ncclUniqueId id;
	if (dist_rank() == 0) {
		ncclResult_t r = ncclGetUniqueId(&id);
		if (r != ncclSuccess)
			die("NCCL: ncclGetUniqueId: %s", ncclGetErrorString(r));
	}
	dist_bcast(&id, sizeof id, 0);
	ncclResult_t r = ncclCommInitRank(&g_comm, dist_world(), id, dist_rank());
	if (r != ncclSuccess)
		die("NCCL: ncclCommInitRank (rank %d of %d, GPU %d): %s", dist_rank(), dist_world(), dev,
		    ncclGetErrorString(r));
	g_ready = 1;
}

void dist_nccl_allreduce_f32(float *buf, size_t n, void *stream)
{
	if (dist_world() == 1)
		return;
	if (!g_ready)
		die("internal error: dist_nccl_allreduce_f32 before dist_nccl_init");
	ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, g_comm, (cudaStream_t)stream);
	if (r != ncclSuccess)
		die("NCCL: ncclAllReduce of %zu floats: %s", n, ncclGetErrorString(r));
}

void dist_nccl_finalize(void)
{
	if (g_ready) {
		ncclCommDestroy(g_comm);
		g_ready = 0;
	}
}

#else

int dist_nccl_built(void) { return 0; }

void dist_nccl_init(void)
{
	die("this build has no NCCL (needs CUDA, MPI and nccl.h/libnccl under CUDA_HOME); device buffers cannot be summed "
	    "across ranks");
}

void dist_nccl_allreduce_f32(float *buf, size_t n, void *stream)
{
	(void)buf, (void)n, (void)stream;
	die("internal error: dist_nccl_allreduce_f32 without NCCL");
}

void dist_nccl_finalize(void) {}

#endif
