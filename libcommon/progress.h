/* progress.h: progress reporting on stderr.
 *
 * On a terminal: one redrawn line "label  1234/5000  25%  310.2 img/s  ETA 0:12". Otherwise (a log, CI): a plain
 * line every `log_every` items and one at the end, so logs stay readable. Quiet mode prints nothing.
 */
#ifndef AVSL_PROGRESS_H
#define AVSL_PROGRESS_H

#include <stdint.h>

typedef struct {
	const char *label;  /* e.g. "embed" */
	const char *unit;   /* e.g. "img" */
	uint64_t total;     /* 0 when unknown (a pipe) */
	uint64_t done;
	uint64_t log_every; /* non-terminal: a line every this many items (0: only at the end) */
	uint64_t next_log;
	double start, last_draw;
	int tty, quiet;
} progress;

void progress_start(progress *p, const char *label, const char *unit, uint64_t total, int quiet);
/* Advance by n items and redraw if due (at most ~10 redraws per second). Not thread-safe: call from one thread. */
void progress_add(progress *p, uint64_t n);
/* Final line with the totals and the mean rate. */
void progress_end(progress *p);

#endif
