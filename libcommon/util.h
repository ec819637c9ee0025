/* util.h: error reporting, checked allocation and number parsing shared by every tool.
 *
 * Exit codes are part of the interface of every avsl tool:
 *   0  success
 *   1  runtime or data error (bad file, I/O failure, NaN loss, ...)
 *   2  usage error (unknown option, number out of range on the command line)
 */
#ifndef AVSL_UTIL_H
#define AVSL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { AVSL_EXIT_OK = 0, AVSL_EXIT_ERROR = 1, AVSL_EXIT_USAGE = 2 };

/* The program name used as a prefix for every diagnostic ("avsl-prep: ..."). Set once by main(). */
void avsl_set_progname(const char *argv0);
const char *avsl_progname(void);
/* Called by die()/die_usage() with the exit status just before they exit (dist.c: abort the other ranks). */
void avsl_set_exit_hook(void (*fn)(int status));

/* "prog: message\n" on stderr, then exit(1). */
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Run an op of kernels/ops.h (`call` returns 0 or -1) and die with its context's reason when it fails (scratch
 * memory exhausted, an op the backend lacks): the model code has no error path for these. */
#define OP_DO(ctx, call)                                                                                             \
	do {                                                                                                         \
		if ((call) != 0)                                                                                     \
			die("%s", (ctx)->err);                                                                       \
	} while (0)
/* "prog: message\n" on stderr. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: message\n" plus "Try 'prog --help'." on stderr, then exit(2). */
void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Allocation that never returns NULL: on failure (or size overflow) it dies with exit 1. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* count*size with an overflow check; dies on overflow. */
void *xmalloc_array(size_t count, size_t size);
void *xrealloc_array(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
/* printf into a freshly allocated string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Multiply/add with overflow detection: return 0 and store the result, or -1 on overflow. */
int size_mul(size_t a, size_t b, size_t *out);
int size_add(size_t a, size_t b, size_t *out);

/* Number parsing. Each returns 0 on success, -1 on failure with a static reason in *why
 * ("not a number", "out of range [1, 64]", ...). Leading/trailing spaces and empty strings are rejected. */
int parse_long(const char *s, long min, long max, long *out, const char **why);
int parse_double(const char *s, double min, double max, double *out, const char **why);
/* A byte or item count with an optional K/M/G/T suffix (binary: K = 1024); "64M" = 67108864. */
int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why);
/* A comma-separated list of positive integers, e.g. "1,2,4,8"; at most cap items. Returns count or -1. */
int parse_long_list(const char *s, long min, long max, long *out, int cap, const char **why);

/* Command-line variants: on failure they call die_usage naming the option ("--batch-size: out of range ..."). */
long opt_long(const char *opt, const char *s, long min, long max);
double opt_double(const char *opt, const char *s, double min, double max);
uint64_t opt_size(const char *opt, const char *s, uint64_t min, uint64_t max);

/* Monotonic wall clock in seconds. */
double avsl_now(void);

#endif
