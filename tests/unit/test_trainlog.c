/* Unit tests for libcommon/trainlog (exact JSON lines and summaries) and libcommon/signals (first signal sets the
 * flag, the second one kills, checked in a child process). */
#include "harness.h"
#include "signals.h"
#include "trainlog.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static trainlog_entry avsl_entry(void)
{
	trainlog_entry e;
	memset(&e, 0, sizeof e);
	e.epoch = 12;
	e.step = 384;
	e.n_losses = 4;
	e.loss_name[0] = "final", e.loss_name[1] = "level0", e.loss_name[2] = "level1", e.loss_name[3] = "level2";
	e.loss[0] = 1.25, e.loss[1] = 0.5, e.loss[2] = 0.25, e.loss[3] = 0.125;
	e.lr[0] = 1e-5, e.lr[1] = 5.5e-4, e.lr[2] = 1.1e-4;
	e.active[0] = e.active[1] = e.active[2] = 1;
	e.img_s = 412.25;
	e.seconds = 83.5;
	e.data_wait = 0.03125;
	return e;
}

TEST(step_line_exact)
{
	trainlog_entry e = avsl_entry();
	char buf[1024];
	int n = trainlog_format(buf, sizeof buf, "step", &e);
	const char *want = "{\"type\":\"step\",\"epoch\":12,\"step\":384,\"losses\":{\"final\":1.25,\"level0\":0.5,"
			   "\"level1\":0.25,\"level2\":0.125},\"lr\":{\"trunk\":1e-05,\"embedder\":0.00055,"
			   "\"collector\":0.00011},\"active\":{\"trunk\":true,\"embedder\":true,\"collector\":true},"
			   "\"img_s\":412.25,\"seconds\":83.5,\"data_wait\":0.03125}";
	CHECKF(strcmp(buf, want) == 0, "%.400s", buf);
	CHECK(n == (int)strlen(want));
	e.data_wait = -1; /* not measured: no key */
	trainlog_format(buf, sizeof buf, "step", &e);
	CHECKF(strstr(buf, "data_wait") == NULL && strstr(buf, "\"seconds\":83.5}") != NULL, "%.400s", buf);
	e.data_wait = 0.03125;
	char tiny[10];
	CHECK(trainlog_format(tiny, sizeof tiny, "step", &e) == n && strlen(tiny) == 9); /* truncates, reports need */
}

TEST(epoch_line_with_recall_and_nan)
{
	trainlog_entry e = avsl_entry();
	e.n_losses = 1;
	e.loss_name[0] = "loss";
	e.loss[0] = NAN;
	e.active[0] = 0;
	e.n_recall = 2;
	e.recall_k[0] = 1, e.recall_k[1] = 2;
	e.recall[0] = 0.7, e.recall[1] = 0.8125;
	e.n_metrics = 1;
	e.metric_name[0] = "map_at_r";
	e.metric[0] = 0.25;
	e.best = 1;
	char buf[1024];
	trainlog_format(buf, sizeof buf, "epoch", &e);
	CHECKF(strstr(buf, "\"losses\":{\"loss\":null}") && strstr(buf, "\"trunk\":false") &&
		       strstr(buf, ",\"recall\":{\"1\":0.7,\"2\":0.8125},\"best\":true,\"map_at_r\":0.25}"),
	       "%.400s", buf);
	trainlog_summary(buf, sizeof buf, 61, &e);
	CHECKF(strcmp(buf, "epoch 12/61  loss nan  lr warm-up 0.00055 0.00011  412.2 img/s  83.5 s  R@1 70.00 R@2 81.25 *") ==
		       0,
	       "%.400s", buf);
	e = avsl_entry();
	trainlog_summary(buf, sizeof buf, 61, &e);
	CHECKF(strcmp(buf, "epoch 12/61  loss 1.2500 (0.5000 0.2500 0.1250)  lr 1e-05 0.00055 0.00011  412.2 img/s  "
			   "83.5 s") == 0,
	       "%.400s", buf);
}

TEST(file_gets_one_line_per_record)
{
	char path[] = "/tmp/avsl-test-trainlog-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	trainlog t;
	CHECK(trainlog_open(&t, path) == 0);
	trainlog_entry e = avsl_entry();
	CHECK(trainlog_step(&t, &e) == 0 && trainlog_epoch(&t, &e) == 0);
	trainlog_close(&t);
	CHECK(trainlog_open(&t, path) == 0); /* appends */
	CHECK(trainlog_epoch(&t, &e) == 0);
	trainlog_close(&t);
	FILE *fp = fopen(path, "r");
	char line[2048];
	int lines = 0, epochs = 0;
	while (fgets(line, sizeof line, fp)) {
		lines++;
		epochs += strncmp(line, "{\"type\":\"epoch\"", 15) == 0;
		CHECK(line[strlen(line) - 1] == '\n' && line[strlen(line) - 2] == '}');
	}
	fclose(fp);
	unlink(path);
	CHECK(lines == 3 && epochs == 2);
	trainlog none;
	CHECK(trainlog_open(&none, NULL) == 0 && trainlog_step(&none, &e) == 0);
	CHECK(trainlog_open(&none, "/nonexistent/dir/log") == -1);
}

TEST(first_signal_sets_flag_second_kills)
{
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		signals_install();
		if (signals_stop_requested())
			_exit(10);
		raise(SIGTERM);
		if (!signals_stop_requested() || signals_received() != SIGTERM || signals_exit_status() != 128 + SIGTERM)
			_exit(11);
		raise(SIGINT); /* second: default action, the child dies of SIGINT */
		_exit(12);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGINT, "status %d", st);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		signals_install();
		signals_restore();
		raise(SIGTERM); /* restored: dies at once */
		_exit(13);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECKF(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %d", st);
}

int main(void)
{
	RUN(step_line_exact);
	RUN(epoch_line_with_recall_and_nan);
	RUN(file_gets_one_line_per_record);
	RUN(first_signal_sets_flag_second_kills);
	return harness_finish();
}
