/* cli.c: see cli.h. */
#define _GNU_SOURCE
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cli_print_version(void)
{
	printf("%s %s\n", avsl_progname(), AVSL_VERSION);
}

void out_open(out_file *o, const char *path, int binary)
{
	memset(o, 0, sizeof *o);
	o->path = xstrdup(path);
	if (strcmp(path, "-") == 0) {
		if (binary && isatty(STDOUT_FILENO))
			die("refusing to write binary data to a terminal (use -o FILE or a pipe)");
		o->fp = stdout;
		return;
	}
	/* A device or FIFO (/dev/null, a named pipe) is written in place: renaming a temporary over it would replace
	 * the device node with a regular file (as root, for everyone on the machine). */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		o->fp = fopen(path, "wb");
		if (!o->fp)
			die("%s: cannot open: %s", path, strerror(errno));
		if (binary && isatty(fileno(o->fp)))
			die("%s: refusing to write binary data to a terminal", path);
		return;
	}
	o->tmp_path = xasprintf("%s.tmp.%ld", path, (long)getpid());
	o->fp = fopen(o->tmp_path, "wb");
	if (!o->fp)
		die("%s: cannot create: %s", o->tmp_path, strerror(errno));
}

void out_commit(out_file *o)
{
	if (!o->fp)
		return;
	int bad = fflush(o->fp) != 0 || ferror(o->fp);
	if (o->tmp_path) {
		if (!bad && fsync(fileno(o->fp)) != 0 && errno != EINVAL)
			bad = 1;
		if (fclose(o->fp) != 0)
			bad = 1;
		o->fp = NULL;
		if (bad) {
			int e = errno;
			unlink(o->tmp_path);
			die("%s: write failed: %s", o->path, strerror(e));
		}
		if (rename(o->tmp_path, o->path) != 0) {
			int e = errno;
			unlink(o->tmp_path);
			die("%s: cannot rename into place: %s", o->path, strerror(e));
		}
	} else {
		int is_stdout = o->fp == stdout;
		if (!is_stdout && fclose(o->fp) != 0)
			bad = 1;
		o->fp = NULL;
		if (bad)
			die("%s: write failed: %s", is_stdout ? "standard output" : o->path, strerror(errno));
	}
	free(o->tmp_path);
	free(o->path);
	o->tmp_path = o->path = NULL;
}

void out_abort(out_file *o)
{
	if (o->fp && o->tmp_path) {
		fclose(o->fp);
		unlink(o->tmp_path);
	} else if (o->fp && o->fp != stdout) {
		fclose(o->fp); /* a device or FIFO written in place */
	}
	o->fp = NULL;
	free(o->tmp_path);
	free(o->path);
	o->tmp_path = o->path = NULL;
}

FILE *in_open(const char *path)
{
	if (strcmp(path, "-") == 0)
		return stdin;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		die("%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode))
		die("%s: is a directory", path);
	return fp;
}

void in_close(FILE *fp)
{
	if (fp && fp != stdin)
		fclose(fp);
}

int cli_stderr_is_tty(void) { return isatty(STDERR_FILENO); }

unsigned char *read_whole_file(const char *path, size_t *len)
{
	FILE *fp = in_open(path);
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (size_mul(cap, 2, &cap))
				die("%s: file too large", path);
			buf = xrealloc(buf, cap);
		}
		size_t got = fread(buf + n, 1, cap - n, fp);
		n += got;
		if (got == 0) {
			if (ferror(fp))
				die("%s: read error: %s", path, strerror(errno));
			break;
		}
	}
	in_close(fp);
	*len = n;
	return buf;
}
