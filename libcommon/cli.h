/* cli.h: conventions shared by every avsl tool's command line and its input/output files.
 *
 * Every tool: cli_init(argv[0]) first; getopt_long; -h/--help prints full help to stdout and exits 0; bad usage
 * prints a short message to stderr and exits 2; -V/--version prints "avsl-tool AVSL_VERSION"; -q quiet (no
 * progress), -v verbose; "-" is stdin/stdout; binary data is never written to a terminal.
 *
 * Output discipline (one path for every file a tool writes):
 *   out_open    creates "path.tmp.<pid>.<n>" with O_CREAT|O_EXCL|O_NOFOLLOW (never follows or reuses a planted
 *               name) and records it in a fixed table of pending temporaries;
 *   out_commit  flush, fsync, close, rename into place, then forget the temporary.
 * die(), SIGINT, SIGTERM, SIGHUP and SIGPIPE unlink every pending temporary of the process (the signal handler
 * walks the fixed table and calls only unlink, then re-raises the signal), so no half-written file is ever left,
 * under its final name or a temporary one. Outputs that belong together (prep's shards and manifest, explain's
 * text and picture, embed's .ave and .npy files) go through an out_set: every member is written and synced under
 * its temporary name and the set is renamed last, in order (a manifest last), with the catchable signals blocked.
 * Standard output is flushed and checked at exit: a failed write (a full disk, /dev/full) is an error, exit 1.
 */
#ifndef AVSL_CLI_H
#define AVSL_CLI_H

#include <stdio.h>

#define AVSL_VERSION "0.1.0"

/* Verbosity shared by a tool's modules through its own context (never a global). */
enum { CLI_QUIET = 0, CLI_NORMAL = 1, CLI_VERBOSE = 2 };

/* Set the program name, install the cleanup handlers (SIGINT, SIGTERM, SIGHUP, SIGPIPE; a signal the parent set
 * to be ignored stays ignored) and the exit-time check of standard output. Call first in every tool's main(). */
void cli_init(const char *argv0);

/* OpenMP threads wait passively (sleep in the kernel) at the end of a parallel region instead of spinning:
 * with another CPU-bound process on the machine, spinning threads take turns burning the cores the working
 * threads need, and throughput collapses (avsl-train kept a third of its speed beside one `yes`). libgomp reads
 * OMP_WAIT_POLICY once, when it is loaded, before main(); so when it is unset this sets OMP_WAIT_POLICY=PASSIVE
 * and re-executes the program (/proc/self/exe, same argv and pid). A value the user set is kept. Call first. */
void cli_omp_passive(char **argv);

/* Print "prog AVSL_VERSION" to stdout. */
void cli_print_version(void);

/* An output written under a temporary name in the target's folder and renamed to path only by out_commit(), so an
 * interrupted or failed run never leaves a file that looks complete. path "-" means stdout (no renaming); a device
 * or FIFO that already exists (/dev/null, a named pipe) is written in place. */
typedef struct {
	FILE *fp;
	char *path;     /* final name, or "-" */
	char *tmp_path; /* temporary name, NULL for stdout or a device */
	int slot;       /* index in the table of pending temporaries, -1 when none */
	int finished;   /* out_finish done: data synced, fp closed, rename pending */
} out_file;

/* Open an output; refuses (die, exit 1) to write binary data to a terminal when binary is nonzero. */
void out_open(out_file *o, const char *path, int binary);
/* Flush, fsync and close, leaving the file under its temporary name (still removed by die or a signal); dies
 * naming the file on any I/O error. out_commit() then only renames. */
void out_finish(out_file *o);
/* out_finish (when not done yet) and rename into place; dies naming the file on any I/O error. */
void out_commit(out_file *o);
/* Remove the temporary file (on error paths); safe to call twice or after commit. */
void out_abort(out_file *o);

/* Outputs that appear all together or not at all. Members are renamed in the order they were opened. */
typedef struct {
	out_file **f;
	int n;
} out_set;

/* Open one more member (out_open) and return it; the pointer stays valid until out_set_commit/out_set_abort. */
out_file *out_set_open(out_set *s, const char *path, int binary);
/* out_finish every member, then rename them all with SIGINT/SIGTERM/SIGHUP/SIGPIPE blocked; when a rename fails
 * the members already renamed are removed again and the tool dies naming the file. Frees the set. */
void out_set_commit(out_set *s);
/* out_abort every member and free the set. */
void out_set_abort(out_set *s);

/* Unlink every pending temporary. Async-signal-safe (only unlink over a fixed table); called by die(), the signal
 * handlers (also avsl-train's, see signals.h) and at exit. */
void out_unlink_pending(void);
/* Called by die() and die_usage() before exiting: unlink the pending temporaries, silence the stdout check. */
void cli_on_die(void);

/* fopen for reading with "-" meaning stdin; dies "prog: path: strerror" on failure. */
FILE *in_open(const char *path);
void in_close(FILE *fp);

/* Nonzero when stderr is a terminal (progress bars are drawn only then). */
int cli_stderr_is_tty(void);

/* Read a whole file into memory (dies naming the file on error). *len gets the size. */
unsigned char *read_whole_file(const char *path, size_t *len);

#endif
