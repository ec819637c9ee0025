/* dist.c: see dist.h. The MPI calls are compiled only with AVSL_HAVE_MPI (make detects mpicc); without it every
 * function is the one-process case. */
#include "dist.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef AVSL_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_world = 1, g_local = 0, g_mpi = 0;
static double g_comm;
static char g_name[160];

/* The launcher's rank count from its environment (0: not launched by one). */
static int launcher_world(void)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS",
					   "MPI_LOCALNRANKS"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *s = getenv(vars[i]);
		if (s && atoi(s) > 0)
			return atoi(s);
	}
	return 0;
}

int dist_built(void)
{
#ifdef AVSL_HAVE_MPI
	return 1;
#else
	return 0;
#endif
}

int dist_rank(void) { return g_rank; }
int dist_world(void) { return g_world; }
int dist_local_rank(void) { return g_local; }
double dist_comm_seconds(void) { return g_comm; }
void dist_comm_reset(void) { g_comm = 0; }

#ifdef AVSL_HAVE_MPI
static void abort_job(int status)
{
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, status);
}

static void on_mpi_error(MPI_Comm *comm, int *code, ...)
{
	(void)comm;
	char msg[MPI_MAX_ERROR_STRING];
	int len = 0;
	MPI_Error_string(*code, msg, &len);
	fprintf(stderr, "%s: MPI error (another rank failed?): %s\n", avsl_progname(), msg);
	abort_job(1);
}
#endif

void dist_init(int *argc, char ***argv)
{
	int w = launcher_world();
	if (w <= 1)
		return;
#ifdef AVSL_HAVE_MPI
	int provided, inited;
	MPI_Initialized(&inited);
	if (inited)
		return;
	/* Only the main thread calls MPI (the loader and thread pools never do). */
	MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
	g_mpi = 1;
	MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &g_world);
	MPI_Comm local;
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local);
	MPI_Comm_rank(local, &g_local);
	MPI_Comm_free(&local);
	MPI_Errhandler eh;
	MPI_Comm_create_errhandler(on_mpi_error, &eh);
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, eh);
	snprintf(g_name, sizeof g_name, "%s[rank %d]", avsl_progname(), g_rank);
	avsl_set_progname(g_name);
	avsl_set_exit_hook(abort_job);
#else
	(void)argc, (void)argv;
	(void)g_mpi, (void)g_name;
	die("launched as %d ranks, but this build has no MPI (built with MPI=0 or without mpicc); install libopenmpi-dev "
	    "and rebuild, or run one process", w);
#endif
}

void dist_finalize(void)
{
#ifdef AVSL_HAVE_MPI
	if (g_mpi) {
		dist_bucket_wait_all();
		MPI_Finalize();
		g_mpi = 0;
	}
#endif
}

/* Count chunks under INT_MAX elements (MPI counts are int). */
enum { CHUNK = 1 << 28 };

#ifdef AVSL_HAVE_MPI
/* In-place sum of n elements of `size` bytes and type t, in chunks under INT_MAX elements. */
static void allreduce(void *buf, size_t n, size_t size, MPI_Datatype t)
{
	double t0 = avsl_now();
	for (size_t o = 0; o < n; o += CHUNK)
		MPI_Allreduce(MPI_IN_PLACE, (char *)buf + o * size, (int)(n - o < CHUNK ? n - o : CHUNK), t, MPI_SUM,
			      MPI_COMM_WORLD);
	g_comm += avsl_now() - t0;
}
#endif

void dist_allreduce_f32(float *buf, size_t n)
{
#ifdef AVSL_HAVE_MPI
	if (g_world > 1)
		allreduce(buf, n, sizeof *buf, MPI_FLOAT);
#else
	(void)buf, (void)n;
#endif
}

void dist_allreduce_f64(double *buf, size_t n)
{
#ifdef AVSL_HAVE_MPI
	if (g_world > 1)
		allreduce(buf, n, sizeof *buf, MPI_DOUBLE);
#else
	(void)buf, (void)n;
#endif
}

int dist_max_int(int v)
{
#ifdef AVSL_HAVE_MPI
	if (g_world > 1) {
		double t = avsl_now();
		int out = v;
		MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
		g_comm += avsl_now() - t;
		return out;
	}
#endif
	return v;
}

void dist_bcast(void *buf, size_t bytes, int root)
{
#ifdef AVSL_HAVE_MPI
	if (g_world > 1) {
		double t = avsl_now();
		for (size_t o = 0; o < bytes; o += CHUNK)
			MPI_Bcast((char *)buf + o, (int)(bytes - o < CHUNK ? bytes - o : CHUNK), MPI_BYTE, root,
				  MPI_COMM_WORLD);
		g_comm += avsl_now() - t;
	}
#else
	(void)buf, (void)bytes, (void)root;
#endif
}

void dist_barrier(void)
{
#ifdef AVSL_HAVE_MPI
	if (g_world > 1)
		MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void dist_rows_plan(dist_rows *r, int n)
{
	r->n = n;
	r->counts = xmalloc_array((size_t)g_world, sizeof(int));
	r->counts[0] = n;
#ifdef AVSL_HAVE_MPI
	if (g_world > 1) {
		double t = avsl_now();
		MPI_Allgather(&n, 1, MPI_INT, r->counts, 1, MPI_INT, MPI_COMM_WORLD);
		g_comm += avsl_now() - t;
	}
#endif
	r->first = 0;
	r->total = 0;
	for (int i = 0; i < g_world; i++) {
		if (i == g_rank)
			r->first = r->total;
		r->total += r->counts[i];
	}
}

void dist_rows_free(dist_rows *r)
{
	free(r->counts);
	memset(r, 0, sizeof *r);
}

void dist_gather_rows(const dist_rows *r, const void *local, size_t row_bytes, void *global, int all)
{
	if (g_world == 1) {
		if (global != local)
			memmove(global, local, (size_t)r->n * row_bytes);
		return;
	}
#ifdef AVSL_HAVE_MPI
	double t = avsl_now();
	/* A contiguous datatype of one row keeps the counts small (rows, not bytes). */
	MPI_Datatype row;
	MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row);
	MPI_Type_commit(&row);
	int *displs = xmalloc_array((size_t)g_world, sizeof(int));
	for (int i = 0, o = 0; i < g_world; i++)
		displs[i] = o, o += r->counts[i];
	if (all)
		MPI_Allgatherv(local, r->n, row, global, r->counts, displs, row, MPI_COMM_WORLD);
	else
		MPI_Gatherv(local, r->n, row, global, r->counts, displs, row, 0, MPI_COMM_WORLD);
	free(displs);
	MPI_Type_free(&row);
	g_comm += avsl_now() - t;
#endif
}

#ifdef AVSL_HAVE_MPI
static MPI_Request g_req[DIST_MAX_BUCKETS];
#endif
static int g_nreq;

void dist_bucket_start(float *buf, size_t n)
{
#ifdef AVSL_HAVE_MPI
	if (g_world > 1 && n > 0) {
		if (g_nreq == DIST_MAX_BUCKETS || n > (size_t)INT_MAX)
			die("internal error: gradient bucket %d of %zu floats", g_nreq, n);
		double t = avsl_now();
		MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &g_req[g_nreq++]);
		g_comm += avsl_now() - t;
	}
#else
	(void)buf, (void)n;
#endif
}

void dist_progress(void)
{
#ifdef AVSL_HAVE_MPI
	if (g_nreq > 0) {
		int done;
		double t = avsl_now();
		MPI_Testall(g_nreq, g_req, &done, MPI_STATUSES_IGNORE);
		g_comm += avsl_now() - t;
	}
#endif
}

void dist_bucket_wait_all(void)
{
#ifdef AVSL_HAVE_MPI
	if (g_nreq > 0) {
		double t = avsl_now();
		MPI_Waitall(g_nreq, g_req, MPI_STATUSES_IGNORE);
		g_comm += avsl_now() - t;
	}
#endif
	g_nreq = 0;
}
