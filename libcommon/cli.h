/* cli.h: conventions shared by every avsl tool's command line and its input/output files.
 *
 * Every tool: getopt_long; -h/--help prints full help to stdout and exits 0; bad usage prints a short message to
 * stderr and exits 2; -V/--version prints "avsl-tool AVSL_VERSION"; -q quiet (no progress), -v verbose; "-" is
 * stdin/stdout; binary data is never written to a terminal.
 */
#ifndef AVSL_CLI_H
#define AVSL_CLI_H

#include <stdio.h>

#define AVSL_VERSION "0.1.0"

/* Verbosity shared by a tool's modules through its own context (never a global). */
enum { CLI_QUIET = 0, CLI_NORMAL = 1, CLI_VERBOSE = 2 };

/* Print "prog AVSL_VERSION" to stdout. */
void cli_print_version(void);

/* An output written to "path.tmp.<pid>" and renamed to path only by out_commit(), so an interrupted or failed
 * run never leaves a file that looks complete. path "-" means stdout (no renaming). */
typedef struct {
	FILE *fp;
	char *path;     /* final name, or "-" */
	char *tmp_path; /* temporary name, NULL for stdout */
} out_file;

/* Open an output; refuses (die, exit 1) to write binary data to a terminal when binary is nonzero. */
void out_open(out_file *o, const char *path, int binary);
/* Flush, fsync and rename into place; dies naming the file on any I/O error. */
void out_commit(out_file *o);
/* Remove the temporary file (on error paths); safe to call twice or after commit. */
void out_abort(out_file *o);

/* fopen for reading with "-" meaning stdin; dies "prog: path: strerror" on failure. */
FILE *in_open(const char *path);
void in_close(FILE *fp);

/* Nonzero when stderr is a terminal (progress bars are drawn only then). */
int cli_stderr_is_tty(void);

/* Read a whole file into memory (dies naming the file on error). *len gets the size. */
unsigned char *read_whole_file(const char *path, size_t *len);

#endif
