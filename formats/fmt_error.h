/* fmt_error.h: how every reader and writer in formats/ reports a problem.
 *
 * formats/ depends on nothing else of ours (it never calls die()): a function returns -1 and fills err->msg with
 * one line "FILE: FIELD: what was found, what was expected" that a tool can print as is after its name.
 */
#ifndef AVSL_FMT_ERROR_H
#define AVSL_FMT_ERROR_H

#include <stdarg.h>
#include <stdio.h>

typedef struct {
	char msg[512];
} fmt_error;

/* Fill err (may be NULL) with a formatted message and return -1, so readers can write `return fmt_fail(...)`. */
static inline int fmt_fail(fmt_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int fmt_fail(fmt_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

#endif
