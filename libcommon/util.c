/* util.c: see util.h. */
#define _GNU_SOURCE
#include "util.h"
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The one piece of global state: set once at start-up, read by every diagnostic. */
static const char *progname = "avsl";

void avsl_set_progname(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	if (argv0 && *argv0)
		progname = slash ? slash + 1 : argv0;
}

const char *avsl_progname(void) { return progname; }

/* Set by dist.c under mpirun: a dying rank must take the others down with it (MPI_Abort), not leave them waiting. */
static void (*exit_hook)(int status);
void avsl_set_exit_hook(void (*fn)(int status)) { exit_hook = fn; }

static void __attribute__((noreturn)) noreturn_exit(int status)
{
	if (exit_hook)
		exit_hook(status);
	exit(status);
}

static void vreport(const char *fmt, va_list ap)
{
	/* One fprintf-sized buffer so the line is written in one piece even when threads report at once. */
	char buf[2048];
	int n = snprintf(buf, sizeof buf, "%s: ", progname);
	if (n < 0)
		n = 0;
	vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	size_t len = strlen(buf);
	if (len + 1 < sizeof buf) {
		buf[len++] = '\n';
		buf[len] = 0;
	}
	fflush(stdout);
	fputs(buf, stderr);
}

/* LeakSanitizer (make check SANITIZE=1) asks this at exit whether to skip its leak check. After die() or
 * die_usage() the process ends on an error with its work half done, and what the callers up the stack still hold
 * (buffers live in frames that never return) is no leak; every normal exit is checked in full. */
static volatile sig_atomic_t exiting_on_error;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return exiting_on_error;
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	cli_on_die();
	exiting_on_error = 1;
	noreturn_exit(AVSL_EXIT_ERROR);
}

void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
}

void die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", progname);
	cli_on_die();
	exiting_on_error = 1;
	noreturn_exit(AVSL_EXIT_USAGE);
}

int size_mul(size_t a, size_t b, size_t *out)
{
	if (b && a > SIZE_MAX / b)
		return -1;
	*out = a * b;
	return 0;
}

int size_add(size_t a, size_t b, size_t *out)
{
	if (a > SIZE_MAX - b)
		return -1;
	*out = a + b;
	return 0;
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t count, size_t size)
{
	size_t n;
	if (size_mul(count, size, &n))
		die("allocation size overflow (%zu x %zu)", count, size);
	void *p = calloc(n ? count : 1, n ? size : 1);
	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die("out of memory allocating %zu bytes", n);
	return q;
}

void *xmalloc_array(size_t count, size_t size)
{
	size_t n;
	if (size_mul(count, size, &n))
		die("allocation size overflow (%zu x %zu)", count, size);
	return xmalloc(n);
}

void *xrealloc_array(void *p, size_t count, size_t size)
{
	size_t n;
	if (size_mul(count, size, &n))
		die("allocation size overflow (%zu x %zu)", count, size);
	return xrealloc(p, n);
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("out of memory formatting a string");
	return s;
}

static int bad(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -1;
}

int parse_long(const char *s, long min, long max, long *out, const char **why)
{
	static __thread char range[96];
	if (!s || !*s || isspace((unsigned char)*s))
		return bad(why, "not a number");
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end)
		return bad(why, "not an integer");
	if (errno == ERANGE || v < min || v > max) {
		snprintf(range, sizeof range, "out of range [%ld, %ld]", min, max);
		return bad(why, range);
	}
	*out = v;
	return 0;
}

int parse_double(const char *s, double min, double max, double *out, const char **why)
{
	static __thread char range[96];
	if (!s || !*s || isspace((unsigned char)*s))
		return bad(why, "not a number");
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end)
		return bad(why, "not a number");
	if (!isfinite(v) || errno == ERANGE || v < min || v > max) {
		snprintf(range, sizeof range, "out of range [%g, %g]", min, max);
		return bad(why, range);
	}
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
	static __thread char range[96];
	if (!s || !*s || !isdigit((unsigned char)*s))
		return bad(why, "not a size");
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || errno == ERANGE)
		return bad(why, "not a size");
	unsigned shift = 0;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': shift = 10; break;
		case 'M': shift = 20; break;
		case 'G': shift = 30; break;
		case 'T': shift = 40; break;
		default: return bad(why, "unknown suffix (use K, M, G or T)");
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return bad(why, "trailing characters after the suffix");
	}
	if (shift && v > (UINT64_MAX >> shift))
		return bad(why, "too large");
	v <<= shift;
	if (v < min || v > max) {
		snprintf(range, sizeof range, "out of range [%llu, %llu]", (unsigned long long)min,
			 (unsigned long long)max);
		return bad(why, range);
	}
	*out = v;
	return 0;
}

int parse_long_list(const char *s, long min, long max, long *out, int cap, const char **why)
{
	if (!s || !*s)
		return bad(why, "empty list");
	int n = 0;
	char buf[64];
	const char *p = s;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof buf)
			return bad(why, "malformed list (expected e.g. 1,2,4,8)");
		if (n == cap)
			return bad(why, "too many items in the list");
		memcpy(buf, p, len);
		buf[len] = 0;
		if (parse_long(buf, min, max, &out[n], why))
			return -1;
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	return n;
}

long opt_long(const char *opt, const char *s, long min, long max)
{
	long v;
	const char *why;
	if (parse_long(s, min, max, &v, &why))
		die_usage("%s: '%s': %s", opt, s, why);
	return v;
}

double opt_double(const char *opt, const char *s, double min, double max)
{
	double v;
	const char *why;
	if (parse_double(s, min, max, &v, &why))
		die_usage("%s: '%s': %s", opt, s, why);
	return v;
}

uint64_t opt_size(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;
	const char *why;
	if (parse_size(s, min, max, &v, &why))
		die_usage("%s: '%s': %s", opt, s, why);
	return v;
}

double avsl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
