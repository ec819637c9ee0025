/* Unit tests for libcommon/thread_adapt: the adaptive thread count of avsl-train on synthetic samples. */
#include "harness.h"
#include "thread_adapt.h"

#include <unistd.h>

/* a sample that says: the machine was busy `busy` CPU seconds in total, this process `self` of them, at `wall` */
static cpu_sample at(double busy, double self, double wall) { return (cpu_sample){busy, self, wall, 1}; }

TEST(stat_line_parsed)
{
	double b = -1;
	/* user nice system idle iowait irq softirq steal guest guest_nice: busy = 100+5+40+3+2 ticks */
	CHECK(cpu_stat_busy("cpu  100 5 40 9000 77 3 2 50 10 0\ncpu0 1 2 3\n", 100, &b) == 0);
	CHECK_CLOSE(b, 1.5, 1e-12, 0);
	CHECK(cpu_stat_busy("cpu0 100 5 40 9000 77 3 2 50 10 0\n", 100, &b) == -1);
	CHECK(cpu_stat_busy("cpu  100 5 40\n", 100, &b) == -1);
	CHECK(cpu_stat_busy("", 100, &b) == -1);
}

TEST(others_from_two_samples)
{
	/* 1.5 s of wall time: the machine busy 3 CPU-seconds, this process 1.5 of them: others used 1 CPU */
	cpu_sample a = at(10, 5, 100), b = at(13, 6.5, 101.5);
	CHECK_CLOSE(cpu_others(&a, &b), 1.0, 1e-12, 0);
	/* tick jitter below zero reads as nobody else */
	cpu_sample c = at(13, 8.1, 101.5); /* this process 3.1 s, the machine 3 s */
	CHECK(cpu_others(&a, &c) == 0);
	cpu_sample bad = {0};
	CHECK(cpu_others(&a, &bad) < 0 && cpu_others(&bad, &b) < 0);
	CHECK(cpu_others(&a, &a) < 0); /* no time passed */
}

TEST(busy_neighbour_takes_two_samples)
{
	thread_adapt a;
	thread_adapt_init(&a, 2, 2);
	CHECK(thread_adapt_decide(&a, 0.02) == 2);
	CHECK(thread_adapt_decide(&a, 0.97) == 2); /* one sample: not yet */
	CHECK(thread_adapt_decide(&a, 1.03) == 1); /* the second agrees */
	CHECK(thread_adapt_decide(&a, 1.0) == 1);  /* and it stays */
	CHECK(thread_adapt_decide(&a, 0.9) == 1);
}

TEST(blip_changes_nothing)
{
	thread_adapt a;
	thread_adapt_init(&a, 2, 2);
	for (int i = 0; i < 5; i++) {
		CHECK(thread_adapt_decide(&a, 1.0) == 2); /* busy for one interval */
		CHECK(thread_adapt_decide(&a, 0.1) == 2); /* gone again */
	}
	/* on 8 CPUs: 2 busy, then 3 busy: two samples but not the same count, so no change yet */
	thread_adapt_init(&a, 8, 8);
	CHECK(thread_adapt_decide(&a, 2.0) == 8);
	CHECK(thread_adapt_decide(&a, 3.0) == 8);
	CHECK(thread_adapt_decide(&a, 3.1) == 5);
}

TEST(neighbour_leaving_gives_the_cpus_back)
{
	thread_adapt a;
	thread_adapt_init(&a, 2, 2);
	thread_adapt_decide(&a, 1.0);
	CHECK(thread_adapt_decide(&a, 1.0) == 1);
	CHECK(thread_adapt_decide(&a, 0.05) == 1);
	CHECK(thread_adapt_decide(&a, 0.0) == 2);
}

TEST(rounding_and_floor_of_one)
{
	thread_adapt a;
	thread_adapt_init(&a, 4, 4);
	thread_adapt_decide(&a, 0.45);
	CHECK(thread_adapt_decide(&a, 0.45) == 4); /* less than half a CPU: not worth a thread */
	thread_adapt_decide(&a, 1.6);
	CHECK(thread_adapt_decide(&a, 1.6) == 2);
	thread_adapt_decide(&a, 7.0);
	CHECK(thread_adapt_decide(&a, 9.0) == 1); /* a crowded machine: never below one thread */
	thread_adapt_init(&a, 1, 1);
	CHECK(thread_adapt_decide(&a, 3.0) == 1 && thread_adapt_decide(&a, 3.0) == 1);
	thread_adapt_init(&a, 2, 0); /* current 0: start at max */
	CHECK(a.current == 2);
}

TEST(unreadable_stat_keeps_the_count)
{
	cpu_sample s;
	cpu_sample_read(&s, "/nonexistent/proc/stat");
	CHECK(!s.ok);
	cpu_sample ok = at(10, 5, 100);
	thread_adapt a;
	thread_adapt_init(&a, 2, 2);
	CHECK(thread_adapt_decide(&a, cpu_others(&ok, &s)) == 2);
	CHECK(thread_adapt_decide(&a, cpu_others(&s, &ok)) == 2);
	/* a busy sample, an unknown one, a busy one: the two busy samples were not consecutive */
	CHECK(thread_adapt_decide(&a, 1.0) == 2);
	CHECK(thread_adapt_decide(&a, -1) == 2);
	CHECK(thread_adapt_decide(&a, 1.0) == 2);
	CHECK(thread_adapt_decide(&a, 1.0) == 1);
	/* at 1 thread, unknown samples keep 1 */
	CHECK(thread_adapt_decide(&a, -1) == 1 && thread_adapt_decide(&a, -1) == 1);
}

TEST(reads_a_stat_file)
{
	char path[] = "/tmp/test_thread_adapt.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	const char text[] = "cpu  200 0 100 5000 0 0 0 0 0 0\ncpu0 100 0 50 2500 0 0 0 0 0 0\n";
	CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
	close(fd);
	cpu_sample s;
	cpu_sample_read(&s, path);
	unlink(path);
	long hz = sysconf(_SC_CLK_TCK);
	CHECK(s.ok);
	CHECK_CLOSE(s.busy_s, 300.0 / (double)(hz > 0 ? hz : 100), 1e-9, 0);
	CHECK(s.wall_s > 0 && s.self_s > 0);
	CHECK(thread_adapt_usable_cpus() >= 1);
}

int main(void)
{
	RUN(stat_line_parsed);
	RUN(others_from_two_samples);
	RUN(busy_neighbour_takes_two_samples);
	RUN(blip_changes_nothing);
	RUN(neighbour_leaving_gives_the_cpus_back);
	RUN(rounding_and_floor_of_one);
	RUN(unreadable_stat_keeps_the_count);
	RUN(reads_a_stat_file);
	return harness_finish();
}
