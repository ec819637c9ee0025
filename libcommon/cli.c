/* cli.c: see cli.h. */
#define _GNU_SOURCE
#include "cli.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the table of pending temporaries ------------------------------------------------------------------------
 * Fixed storage, so a signal handler can walk it without touching the heap: a slot's path is written completely
 * before its used flag is set, and the flag is cleared only after the temporary is renamed away or unlinked.
 * 1024 pending files (a prep run of 1024 shards) is far above any real run; the pages of unused slots are never
 * touched, so the table costs address space only. */
#define OUT_MAX_PENDING 1024
static char pending_path[OUT_MAX_PENDING][PATH_MAX];
static volatile sig_atomic_t pending_used[OUT_MAX_PENDING];
static volatile sig_atomic_t pending_top; /* slots [0, pending_top) may be in use */
static pthread_mutex_t pending_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t dying; /* die() has run: the exit-time check of stdout stays quiet */

static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
enum { N_FATAL = sizeof fatal_signals / sizeof fatal_signals[0] };

void out_unlink_pending(void)
{
	int top = pending_top;
	for (int i = 0; i < top; i++)
		if (pending_used[i])
			unlink(pending_path[i]);
}

/* Block (or restore) the signals whose handlers unlink temporaries, around steps that must not be cut in two. */
static void block_fatal(sigset_t *old)
{
	sigset_t set;
	sigemptyset(&set);
	for (int i = 0; i < N_FATAL; i++)
		sigaddset(&set, fatal_signals[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static void restore_mask(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

/* Record path as pending; returns the slot. Called with the fatal signals blocked. */
static int pending_add(const char *path)
{
	if (strlen(path) >= PATH_MAX)
		die("%s: path too long", path);
	pthread_mutex_lock(&pending_mu);
	int i = 0;
	while (i < OUT_MAX_PENDING && pending_used[i])
		i++;
	if (i == OUT_MAX_PENDING) {
		pthread_mutex_unlock(&pending_mu);
		die("%s: more than %d outputs pending at once", path, OUT_MAX_PENDING);
	}
	memcpy(pending_path[i], path, strlen(path) + 1);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the path is complete before the flag says so */
	pending_used[i] = 1;
	if (i >= pending_top)
		pending_top = i + 1;
	pthread_mutex_unlock(&pending_mu);
	return i;
}

static void pending_drop(int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&pending_mu);
	pending_used[slot] = 0;
	pthread_mutex_unlock(&pending_mu);
}

void cli_on_die(void)
{
	dying = 1;
	out_unlink_pending();
}

/* SIGINT, SIGTERM, SIGHUP, SIGPIPE: remove the temporaries, then die of the same signal (the default action), so
 * the parent sees what happened. Only async-signal-safe calls. */
static void on_fatal_signal(int sig)
{
	out_unlink_pending();
	signal(sig, SIG_DFL);
	raise(sig); /* delivered when the handler returns (sig is blocked while it runs) */
}

/* At exit: standard output must have reached its destination; leftovers of a path that forgot out_commit or
 * out_abort are removed. _exit, not exit: this runs inside exit(). */
static void at_exit(void)
{
	if (!dying && (fflush(stdout) != 0 || ferror(stdout))) {
		int e = errno;
		out_unlink_pending();
		fprintf(stderr, "%s: standard output: write failed: %s\n", avsl_progname(), e ? strerror(e) : "I/O error");
		_exit(AVSL_EXIT_ERROR);
	}
	out_unlink_pending();
}

void cli_init(const char *argv0)
{
	avsl_set_progname(argv0);
	for (int i = 0; i < N_FATAL; i++) {
		struct sigaction sa, old;
		if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue; /* e.g. nohup: an ignored SIGHUP stays ignored */
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_fatal_signal;
		sigemptyset(&sa.sa_mask);
		for (int j = 0; j < N_FATAL; j++)
			sigaddset(&sa.sa_mask, fatal_signals[j]);
		sigaction(fatal_signals[i], &sa, NULL);
	}
	atexit(at_exit);
}

void cli_omp_passive(char **argv)
{
	const char *w = getenv("OMP_WAIT_POLICY");
	if (w && *w)
		return;
	setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
	execv("/proc/self/exe", argv); /* returns only on failure: then run on with libgomp's default */
}

void cli_print_version(void)
{
	printf("%s %s\n", avsl_progname(), AVSL_VERSION);
}

/* fsync the folder holding path, so a rename survives a crash of the machine (best effort: some file systems
 * refuse fsync on a directory). */
static void sync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

void out_open(out_file *o, const char *path, int binary)
{
	memset(o, 0, sizeof *o);
	o->slot = -1;
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
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		die("%s: is a directory", path);
	/* A fresh name in the target's folder (rename works only within one file system). O_EXCL|O_NOFOLLOW: a file
	 * or symlink planted under the name is never followed nor overwritten; the next sequence number is tried. */
	static unsigned seq;
	for (int tries = 0;; tries++) {
		char *tmp = xasprintf("%s.tmp.%ld.%u", path, (long)getpid(), __atomic_fetch_add(&seq, 1, __ATOMIC_RELAXED));
		sigset_t old;
		block_fatal(&old);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		int e = errno;
		if (fd >= 0)
			o->slot = pending_add(tmp);
		restore_mask(&old);
		if (fd >= 0) {
			o->tmp_path = tmp;
			o->fp = fdopen(fd, "wb");
			if (!o->fp)
				die("%s: cannot open: %s", tmp, strerror(errno));
			return;
		}
		if (e != EEXIST || tries >= 100)
			die("%s: cannot create: %s", tmp, strerror(e));
		free(tmp);
	}
}

void out_finish(out_file *o)
{
	if (!o->fp || o->finished)
		return;
	int bad = fflush(o->fp) != 0 || ferror(o->fp);
	int e = errno;
	if (o->tmp_path) {
		if (!bad && fsync(fileno(o->fp)) != 0 && errno != EINVAL)
			bad = 1, e = errno;
		if (fclose(o->fp) != 0 && !bad)
			bad = 1, e = errno;
		o->fp = NULL;
		o->finished = 1;
		if (bad)
			die("%s: write failed: %s", o->path, strerror(e));
	} else {
		int is_stdout = o->fp == stdout;
		if (!is_stdout && fclose(o->fp) != 0 && !bad)
			bad = 1, e = errno;
		o->fp = NULL;
		o->finished = 1;
		if (bad)
			die("%s: write failed: %s", is_stdout ? "standard output" : o->path, strerror(e));
	}
}

static void out_forget(out_file *o)
{
	pending_drop(o->slot);
	o->slot = -1;
	free(o->tmp_path);
	free(o->path);
	o->tmp_path = o->path = NULL;
	o->fp = NULL;
}

void out_commit(out_file *o)
{
	if (!o->path)
		return;
	out_finish(o);
	if (o->tmp_path) {
		if (rename(o->tmp_path, o->path) != 0)
			die("%s: cannot rename into place: %s", o->path, strerror(errno));
		sync_dir_of(o->path);
	}
	out_forget(o);
}

void out_abort(out_file *o)
{
	if (!o->path)
		return;
	if (o->fp && o->fp != stdout)
		fclose(o->fp); /* a temporary, or a device or FIFO written in place */
	o->fp = NULL;
	if (o->tmp_path)
		unlink(o->tmp_path);
	out_forget(o);
}

out_file *out_set_open(out_set *s, const char *path, int binary)
{
	s->f = xrealloc_array(s->f, (size_t)s->n + 1, sizeof *s->f);
	out_file *o = xmalloc(sizeof *o);
	out_open(o, path, binary);
	s->f[s->n++] = o;
	return o;
}

void out_set_commit(out_set *s)
{
	for (int i = 0; i < s->n; i++)
		out_finish(s->f[i]);
	/* Every member is complete on disk; now the names. With the signals blocked nothing but SIGKILL or a crash can
	 * stop the loop half-way, and the caller orders a manifest last, so even then no set looks complete early. */
	sigset_t old;
	block_fatal(&old);
	for (int i = 0; i < s->n; i++) {
		out_file *o = s->f[i];
		if (o->tmp_path && rename(o->tmp_path, o->path) != 0) {
			int e = errno;
			for (int j = 0; j < i; j++)
				if (s->f[j]->tmp_path)
					unlink(s->f[j]->path);
			die("%s: cannot rename into place: %s", o->path, strerror(e));
		}
	}
	for (int i = 0; i < s->n; i++) {
		if (s->f[i]->tmp_path)
			sync_dir_of(s->f[i]->path);
		out_forget(s->f[i]);
		free(s->f[i]);
	}
	restore_mask(&old);
	free(s->f);
	s->f = NULL;
	s->n = 0;
}

void out_set_abort(out_set *s)
{
	for (int i = 0; i < s->n; i++) {
		out_abort(s->f[i]);
		free(s->f[i]);
	}
	free(s->f);
	s->f = NULL;
	s->n = 0;
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
