/* Unit tests for the one checkpoint hyper-parameter reader (checkpoint_read_config, formats/checkpoint.md §4):
 * avsl.config is authoritative, a summary key that contradicts it is an error naming the file and the key, the
 * format version is checked, and reading a configuration frees the one it replaces (the 9-byte leak of the default
 * model string, seen by LeakSanitizer in avsl-embed and avsl-explain). Errors die(), so they run in a child. */
#include "checkpoint.h"
#include "harness.h"
#include "safetensors.h"

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/avsl-test-ckcfg-XXXXXX";

/* Write a tensor-less checkpoint holding the metadata of a default AVSL configuration (D 64, topk 8), with
 * key=value overrides ("key=" removes the key). */
static void write_ck(const char *path, const char *const *over, int n_over)
{
	train_config c;
	train_config_init(&c);
	c.embeddings_dim = 64;
	c.topk_corr = 8;
	char *json = train_config_to_json(&c);
	char d[32], t[32], seed[32];
	snprintf(d, sizeof d, "%d", c.embeddings_dim);
	snprintf(t, sizeof t, "%d", c.topk_corr);
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)c.seed);
	const char *kv[][2] = {{"avsl.format_version", "1.0"}, {"avsl.setting", "avsl_proxyanchor"},
			       {"avsl.arch", train_config_arch(&c)}, {"avsl.levels", "3"}, {"avsl.embeddings_dim", d},
			       {"avsl.topk_corr", t}, {"avsl.prob_gamma", "10"}, {"avsl.index_p", "2"},
			       {"avsl.avsl_m", "0.5"}, {"avsl.seed", seed}, {"avsl.config", json},
			       {"avsl.input", "{\"size\":224,\"resize\":256,\"channels\":3,\"mean\":[0.485,0.456,0.406],"
					      "\"std\":[0.229,0.224,0.225]}"}};
	st_writer *w = st_writer_new();
	for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
		int skip = 0;
		for (int j = 0; j < n_over; j++) {
			size_t kl = strcspn(over[j], "=");
			if (strlen(kv[i][0]) == kl && !strncmp(kv[i][0], over[j], kl))
				skip = 1;
		}
		if (!skip)
			st_writer_meta(w, kv[i][0], kv[i][1]);
	}
	for (int j = 0; j < n_over; j++) {
		char key[64];
		size_t kl = strcspn(over[j], "=");
		snprintf(key, sizeof key, "%.*s", (int)kl, over[j]);
		if (over[j][kl + 1])
			st_writer_meta(w, key, over[j] + kl + 1);
	}
	FILE *fp = fopen(path, "wb");
	fmt_error err;
	if (!fp || st_writer_write(w, fp, path, &err) || fclose(fp))
		abort();
	st_writer_free(w);
	free(json);
	train_config_free(&c);
}

/* Run checkpoint_read_config on path in a child; returns its exit status and its stderr in msg. */
static int read_in_child(const char *path, char *msg, size_t cap)
{
	int fds[2];
	if (pipe(fds))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		train_config c;
		train_config_init(&c);
		checkpoint_read_config(path, &c);
		train_config_free(&c);
		_exit(0);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], msg, cap - 1);
	msg[n > 0 ? n : 0] = 0;
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(good_checkpoint_reads)
{
	char path[96], msg[1024];
	snprintf(path, sizeof path, "%s/good.safetensors", dir);
	write_ck(path, NULL, 0);
	int st = read_in_child(path, msg, sizeof msg);
	CHECKF(st == 0, "exit %d: %.300s", st, msg);
}

/* The default model string (and every other string of the replaced configuration) is freed: bytes in use are the
 * same before and after a read + free (glibc's count; the first round warms up stdio and the like). */
TEST(read_config_does_not_leak)
{
	char path[96];
	snprintf(path, sizeof path, "%s/leak.safetensors", dir);
	write_ck(path, NULL, 0);
	size_t before = 0, after = 0;
	for (int round = 0; round < 2; round++) {
		before = mallinfo2().uordblks;
		train_config c;
		train_config_init(&c);
		checkpoint_read_config(path, &c);
		train_config_free(&c);
		after = mallinfo2().uordblks;
	}
	CHECKF(after == before, "%zu bytes still allocated after a read", after - before);
}

/* Each case: metadata overrides -> exit 1 and a message naming the file and the key. */
TEST(contradictions_and_versions_are_errors)
{
	static const struct {
		const char *over[2];
		const char *want;
	} cases[] = {
		{{"avsl.embeddings_dim=128"}, "avsl.embeddings_dim: 128 contradicts avsl.config"},
		{{"avsl.levels=2"}, "avsl.levels: 2 contradicts"},
		{{"avsl.topk_corr=65"}, "avsl.topk_corr: 65 contradicts"},
		{{"avsl.arch=resnet18"}, "avsl.arch: 'resnet18' contradicts"},
		{{"avsl.setting=proxy_anchor"}, "avsl.setting: 'proxy_anchor' contradicts"},
		{{"avsl.prob_gamma=3"}, "avsl.prob_gamma: 3 contradicts"},
		{{"avsl.input={\"size\":224,\"resize\":256,\"channels\":3,\"mean\":[0.485,0.456,0.406],\"std\":[0,0,0]}"},
		 "avsl.input: 'std' contradicts"},
		{{"avsl.format_version=2.0"}, "avsl.format_version 2.0"},
		{{"avsl.format_version="}, "'avsl.format_version' missing"},
		{{"avsl.config={\"embeddings_dim\":64,\"topk_corr\":65}", "avsl.topk_corr=65"}, "topk_corr 65 outside"},
		{{"avsl.config={\"embeddings_dim\":64,\"topk_corr\":8,\"std\":[0.3,0,0.3]}"}, "--std: '0': out of range"},
		{{"avsl.config="}, "avsl.config: missing"},
	};
	char path[96], msg[1024];
	snprintf(path, sizeof path, "%s/bad.safetensors", dir);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int n = cases[i].over[1] ? 2 : 1;
		write_ck(path, cases[i].over, n);
		int st = read_in_child(path, msg, sizeof msg);
		CHECKF(st == 1 && strstr(msg, path) && strstr(msg, cases[i].want) && !strchr(strchr(msg, '\n') + 1, '\n'),
		       "case %zu (%.60s): exit %d: %.300s", i, cases[i].over[0], st, msg);
	}
}

int main(int argc, char **argv)
{
	(void)argc;
	/* glibc counts chunks parked in its per-thread cache as in use: run again without the cache so the byte count
	 * of read_config_does_not_leak is exact */
	if (!getenv("GLIBC_TUNABLES")) {
		setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
		execv("/proc/self/exe", argv);
	}
	if (!mkdtemp(dir))
		return 1;
	RUN(good_checkpoint_reads);
	RUN(read_config_does_not_leak);
	RUN(contradictions_and_versions_are_errors);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return harness_finish();
}
