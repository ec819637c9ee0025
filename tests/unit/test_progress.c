/* Unit tests for libcommon/progress: on a non-terminal stderr (a log, CI) it prints a plain line every log_every
 * items and a closing line with the totals; quiet mode prints nothing. stderr is redirected to a file to read it. */
#include "harness.h"
#include "progress.h"
#include "util.h"

#include <stdio.h>
#include <unistd.h>

/* Run fn with stderr sent to a temporary file; return what was written (static buffer). */
static const char *capture(void (*fn)(void))
{
	static char buf[4096];
	fflush(stderr);
	int saved = dup(2);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	size_t n = fread(buf, 1, sizeof buf - 1, tmp);
	buf[n] = 0;
	fclose(tmp);
	return buf;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void run_logged(void)
{
	progress p = {0};
	p.log_every = 25;
	progress_start(&p, "embed", "img", 100, 0);
	for (int i = 0; i < 100; i++)
		progress_add(&p, 1);
	progress_end(&p);
}

static void run_quiet(void)
{
	progress p = {0};
	progress_start(&p, "embed", "img", 100, 1);
	progress_add(&p, 100);
	progress_end(&p);
}

static void run_unknown_total(void)
{
	progress p = {0};
	p.log_every = 10;
	progress_start(&p, "graph", "queries", 0, 0);
	progress_add(&p, 35);
	progress_end(&p);
}

TEST(progress_plain_lines_on_a_log)
{
	avsl_set_progname("avsl-test");
	const char *out = capture(run_logged);
	/* lines at 25, 50, 75 (not at 100: the closing line reports the end) */
	CHECKF(count_lines(out, "avsl-test: embed ") == 4, "output: %s", out);
	CHECK(strstr(out, "25/100") && strstr(out, "75/100") && !strstr(out, "100/100"));
	CHECK(strstr(out, "embed done: 100 img in "));
	CHECK(!strchr(out, '\r')); /* no terminal redraws in a log */
}

TEST(progress_quiet_prints_nothing)
{
	CHECK(capture(run_quiet)[0] == 0);
}

TEST(progress_unknown_total_counts_without_percent)
{
	const char *out = capture(run_unknown_total);
	CHECKF(strstr(out, "graph 35 ") && !strstr(out, "%"), "output: %s", out);
	CHECK(strstr(out, "graph done: 35 queries"));
}

int main(void)
{
	RUN(progress_plain_lines_on_a_log);
	RUN(progress_quiet_prints_nothing);
	RUN(progress_unknown_total_counts_without_percent);
	return harness_finish();
}
