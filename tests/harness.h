/* harness.h: the unit-test framework. One binary per tests/unit/test_*.c; each TEST is one counted case.
 *
 *   TEST(parse_long_rejects_garbage) { CHECK(parse_long("12x", 0, 99, &v, &why) == -1); }
 *   int main(void) { RUN(parse_long_rejects_garbage); return harness_finish(); }
 *
 * Output, one line per case, read by tests/run.sh:  "PASS name"  or  "FAIL name: file:line: expression".
 * The binary exits 1 if any case failed. CHECK records the first failing statement and ends the case.
 */
#ifndef AVSL_HARNESS_H
#define AVSL_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_failed_cases, harness_passed_cases;
static const char *harness_fail_file, *harness_fail_expr;
static int harness_fail_line;
static char harness_fail_msg[512];

#define TEST(name) static void test_##name(void)

#define CHECK(cond)                                                                                                \
	do {                                                                                                       \
		if (!(cond)) {                                                                                     \
			harness_fail_file = __FILE__;                                                              \
			harness_fail_line = __LINE__;                                                              \
			harness_fail_expr = #cond;                                                                 \
			harness_fail_msg[0] = 0;                                                                   \
			return;                                                                                    \
		}                                                                                                  \
	} while (0)

/* CHECK with a printf-style explanation (values that differ, index, ...). */
#define CHECKF(cond, ...)                                                                                          \
	do {                                                                                                       \
		if (!(cond)) {                                                                                     \
			harness_fail_file = __FILE__;                                                              \
			harness_fail_line = __LINE__;                                                              \
			harness_fail_expr = #cond;                                                                 \
			snprintf(harness_fail_msg, sizeof harness_fail_msg, __VA_ARGS__);                          \
			return;                                                                                    \
		}                                                                                                  \
	} while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                                              \
	CHECKF(fabs((double)(a) - (double)(b)) <= (atol) + (rtol)*fabs((double)(b)), "%s = %.9g, %s = %.9g", #a,   \
	       (double)(a), #b, (double)(b))

#define RUN(name)                                                                                                  \
	do {                                                                                                       \
		harness_fail_file = NULL;                                                                          \
		test_##name();                                                                                     \
		if (harness_fail_file) {                                                                           \
			harness_failed_cases++;                                                                    \
			printf("FAIL %s: %s:%d: %s%s%s\n", #name, harness_fail_file, harness_fail_line,            \
			       harness_fail_expr, harness_fail_msg[0] ? " -- " : "", harness_fail_msg);             \
		} else {                                                                                           \
			harness_passed_cases++;                                                                    \
			printf("PASS %s\n", #name);                                                                \
		}                                                                                                  \
		fflush(stdout);                                                                                    \
	} while (0)

/* A FILE positioned at the start of a copy of b[n] (tmpfile: a real file, like a file argument); NULL on failure. */
static inline FILE *harness_feed(const void *b, size_t n)
{
	FILE *fp = tmpfile();
	if (fp && n)
		fwrite(b, 1, n, fp);
	if (fp)
		rewind(fp);
	return fp;
}

static inline int harness_finish(void)
{
	return harness_failed_cases ? 1 : 0;
}

/* Largest |a[i] - b[i]| / (atol + rtol*|b[i]|) over n floats; <= 1 means every element is within tolerance. */
static inline double harness_max_violation(const float *a, const float *b, size_t n, double atol, double rtol,
					   size_t *worst)
{
	double m = 0;
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
		if (!(d <= m)) { /* also catches NaN */
			m = isnan(d) ? INFINITY : d;
			w = i;
		}
	}
	if (worst)
		*worst = w;
	return m;
}

/* Element-wise tolerance check of two float arrays, reporting the worst element on failure. */
#define CHECK_ALLCLOSE(a, b, n, atol, rtol)                                                                        \
	do {                                                                                                       \
		size_t worst_;                                                                                     \
		double v_ = harness_max_violation((a), (b), (n), (atol), (rtol), &worst_);                         \
		CHECKF(v_ <= 1.0, "element %zu: %.9g vs %.9g (atol %g, rtol %g)", worst_, (double)(a)[worst_],     \
		       (double)(b)[worst_], (double)(atol), (double)(rtol));                                       \
	} while (0)

#endif
