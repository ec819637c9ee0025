/* Unit test for libcommon/cli out_open/out_commit on something that is not a regular file: a FIFO (like /dev/null or
 * a named pipe) must be written in place, never replaced by renaming a temporary file over it. */
#include "cli.h"
#include "harness.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TEST(fifo_written_in_place_not_replaced)
{
	char dir[] = "/tmp/avsl-test-cli-XXXXXX";
	CHECK(mkdtemp(dir));
	char fifo[128];
	snprintf(fifo, sizeof fifo, "%s/pipe", dir);
	CHECK(mkfifo(fifo, 0600) == 0);
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) { /* reader: copy the FIFO's bytes to the pipe */
		close(fds[0]);
		FILE *in = fopen(fifo, "rb");
		char buf[64];
		size_t n = in ? fread(buf, 1, sizeof buf, in) : 0;
		if (write(fds[1], buf, n) != (ssize_t)n)
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	out_file o;
	out_open(&o, fifo, 1);
	fputs("hello", o.fp);
	out_commit(&o);
	struct stat sb;
	int still_fifo = stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode);
	if (!still_fifo)
		kill(pid, SIGKILL); /* the reader would wait for a writer forever */
	char got[64] = {0};
	ssize_t n = still_fifo ? read(fds[0], got, sizeof got - 1) : 0;
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	unlink(fifo);
	rmdir(dir);
	CHECK(still_fifo);
	CHECKF(n == 5 && strcmp(got, "hello") == 0, "read %zd bytes '%s'", n, got);
}

TEST(regular_file_still_atomic)
{
	char dir[] = "/tmp/avsl-test-cli-XXXXXX";
	CHECK(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof path, "%s/out.bin", dir);
	out_file o;
	out_open(&o, path, 1);
	CHECK(o.tmp_path != NULL && access(path, F_OK) != 0); /* nothing at the final name before commit */
	fputs("x", o.fp);
	out_commit(&o);
	struct stat sb;
	CHECK(stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 1);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	RUN(fifo_written_in_place_not_replaced);
	RUN(regular_file_still_atomic);
	return harness_finish();
}
