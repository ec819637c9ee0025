/* thread_adapt.h: how many CPU threads avsl-train should use while other processes share the machine.
 *
 * The oneDNN and OpenMP regions split their work statically over the threads, so a region ends when its slowest
 * thread does: a thread that shares its core with another CPU-bound process holds up the whole step. Beside one
 * busy process on 2 cores, 1 thread on the free core is faster than 2 threads of which one is time-sliced. So the
 * trainer (when the user did not fix --threads) samples, every ~1.5 s between steps, the CPU time that the OTHER
 * processes used, and runs on max(1, usable CPUs - round(their busy CPUs)) threads.
 *
 *     thread_adapt a;
 *     thread_adapt_init(&a, usable, current);          // usable: thread_adapt_usable_cpus()
 *     cpu_sample prev, cur;  cpu_sample_read(&prev, "/proc/stat");
 *     ... later: cpu_sample_read(&cur, "/proc/stat");
 *     int n = thread_adapt_decide(&a, cpu_others(&prev, &cur));   // == a.current; changed when it moves
 *
 * The decision is pure (samples in, thread count out; tests/unit/test_thread_adapt.c): it changes the count only
 * when two consecutive samples ask for the same new count (hysteresis: a blip of one interval changes nothing), and
 * an unknown sample (/proc/stat unreadable) keeps the count. */
#ifndef AVSL_THREAD_ADAPT_H
#define AVSL_THREAD_ADAPT_H

/* One reading of the clocks: the whole machine's busy CPU seconds (/proc/stat), this process's CPU seconds (every
 * thread: compute, loader, OpenMP), and the wall clock. ok 0: /proc/stat could not be read or parsed. */
typedef struct {
	double busy_s, self_s, wall_s;
	int ok;
} cpu_sample;

typedef struct {
	int max;     /* usable CPUs: the most threads (>= 1) */
	int current; /* the thread count now */
	int pending; /* the count the last sample asked for when it differed from current, else 0 */
} thread_adapt;

/* CPUs this process may run on (sched_getaffinity; the online CPUs when that fails); >= 1. */
int thread_adapt_usable_cpus(void);
/* Busy seconds of the aggregate "cpu " line of /proc/stat text: user + nice + system + irq + softirq (steal, idle and
 * iowait are not busy; guest time is already in user). ticks_per_s: USER_HZ. 0, or -1 when the line is missing or
 * malformed. */
int cpu_stat_busy(const char *text, double ticks_per_s, double *busy_s);
/* Read stat_path ("/proc/stat") and this process's clocks into s (s->ok 0 when the file cannot be read). */
void cpu_sample_read(cpu_sample *s, const char *stat_path);
/* CPUs (average over the interval) that processes other than this one kept busy between a and b; -1 when either
 * sample is not ok or no time passed. */
double cpu_others(const cpu_sample *a, const cpu_sample *b);

void thread_adapt_init(thread_adapt *a, int max, int current);
/* Feed one sample: others = cpu_others(...) (< 0: unknown). Returns the thread count to use from now on (a->current
 * after the decision): max(1, max - round(others)), once two consecutive samples agree on it. */
int thread_adapt_decide(thread_adapt *a, double others);

#endif
