/* progress.c: see progress.h. */
#include "progress.h"
#include "cli.h"
#include "util.h"

#include <stdio.h>

void progress_start(progress *p, const char *label, const char *unit, uint64_t total, int quiet)
{
	p->label = label;
	p->unit = unit;
	p->total = total;
	p->done = 0;
	p->quiet = quiet;
	p->tty = cli_stderr_is_tty();
	p->start = p->last_draw = avsl_now();
	if (!p->log_every)
		p->log_every = total ? (total + 9) / 10 : 1000;
	p->next_log = p->log_every;
}

static void fmt_eta(char *buf, size_t n, double s)
{
	long t = (long)(s + 0.5);
	if (t >= 3600)
		snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void draw(progress *p, double now, int final)
{
	double el = now - p->start;
	double rate = el > 0 ? (double)p->done / el : 0;
	char eta[32] = "";
	if (p->total && rate > 0)
		fmt_eta(eta, sizeof eta, (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate);
	if (final) {
		fprintf(stderr, "%s%s: %s done: %llu %s in %.1f s (%.1f %s/s)\n", p->tty ? "\r\033[K" : "",
			avsl_progname(), p->label, (unsigned long long)p->done, p->unit, el, rate, p->unit);
		fflush(stderr);
		return;
	}
	const char *end = p->tty ? "\r" : "\n";
	if (p->total)
		fprintf(stderr, "%s: %s %llu/%llu %3.0f%%  %.1f %s/s%s%s%s", avsl_progname(), p->label,
			(unsigned long long)p->done, (unsigned long long)p->total,
			100.0 * (double)p->done / (double)p->total, rate, p->unit, *eta ? "  ETA " : "", eta,
			p->tty ? "\033[K" : "");
	else
		fprintf(stderr, "%s: %s %llu  %.1f %s/s%s", avsl_progname(), p->label, (unsigned long long)p->done,
			rate, p->unit, p->tty ? "\033[K" : "");
	fputs(end, stderr);
	fflush(stderr);
}

void progress_add(progress *p, uint64_t n)
{
	p->done += n;
	if (p->quiet)
		return;
	double now = avsl_now();
	if (p->tty) {
		if (now - p->last_draw >= 0.1) {
			p->last_draw = now;
			draw(p, now, 0);
		}
	} else if (p->log_every && p->done >= p->next_log) {
		while (p->next_log <= p->done)
			p->next_log += p->log_every;
		if (!p->total || p->done < p->total)
			draw(p, now, 0);
	}
}

void progress_end(progress *p)
{
	if (p->quiet)
		return;
	draw(p, avsl_now(), 1);
}
