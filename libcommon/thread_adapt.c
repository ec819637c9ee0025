/* thread_adapt.c: see thread_adapt.h. */
#define _GNU_SOURCE
#include "thread_adapt.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int thread_adapt_usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int cpu_stat_busy(const char *text, double ticks_per_s, double *busy_s)
{
	/* "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (proc(5)), the first line */
	if (strncmp(text, "cpu ", 4) != 0 || ticks_per_s <= 0)
		return -1;
	unsigned long long v[7];
	if (sscanf(text + 4, "%llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7)
		return -1;
	*busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6]) / ticks_per_s;
	return 0;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cpu_sample_read(cpu_sample *s, const char *stat_path)
{
	memset(s, 0, sizeof *s);
	char line[512];
	FILE *f = fopen(stat_path, "r");
	if (!f)
		return;
	int got = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	long hz = sysconf(_SC_CLK_TCK);
	if (!got || cpu_stat_busy(line, hz > 0 ? (double)hz : 100.0, &s->busy_s))
		return;
	s->self_s = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	s->wall_s = clock_s(CLOCK_MONOTONIC);
	s->ok = 1;
}

double cpu_others(const cpu_sample *a, const cpu_sample *b)
{
	double wall = b->wall_s - a->wall_s;
	if (!a->ok || !b->ok || wall <= 0)
		return -1;
	/* /proc/stat counts whole ticks: a few hundredths of a CPU of jitter, below zero included */
	double others = ((b->busy_s - a->busy_s) - (b->self_s - a->self_s)) / wall;
	return others > 0 ? others : 0;
}

void thread_adapt_init(thread_adapt *a, int max, int current)
{
	a->max = max > 0 ? max : 1;
	a->current = current > 0 ? current : a->max;
	a->pending = 0;
}

int thread_adapt_decide(thread_adapt *a, double others)
{
	if (!(others >= 0)) { /* unknown (or NaN): keep the count, and a pending change needs two fresh samples */
		a->pending = 0;
		return a->current;
	}
	double want = a->max - floor(others + 0.5);
	int n = want < 1 ? 1 : (int)want;
	if (n == a->current)
		a->pending = 0;
	else if (n == a->pending) {
		a->current = n;
		a->pending = 0;
	} else
		a->pending = n;
	return a->current;
}
