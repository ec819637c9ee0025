/* replay.c: the plain-main driver of the fuzz harnesses, so `make check` replays every corpus with the normal
 * compiler (no clang, no libFuzzer).
 *
 *   build/fuzz/fuzz_NAME FILE|DIR...
 *
 * Feeds each file (a folder: its regular files, in name order) to LLVMFuzzerTestOneInput, in a buffer of exactly
 * the file's size so that a sanitizer build catches a read past the end. Prints "replay FILE" before each input
 * (the last one names the culprit when a harness crashes) and "PASS fuzz_NAME: N inputs" at the end; no input at
 * all is a FAIL (a corpus that went missing must not pass).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static const char *prog;

static int replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		printf("FAIL %s: %s: %s\n", prog, path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(fp), &st) < 0 || st.st_size < 0) {
		printf("FAIL %s: %s: cannot stat\n", prog, path);
		fclose(fp);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf || fread(buf, 1, n, fp) != n) {
		printf("FAIL %s: %s: cannot read\n", prog, path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	printf("replay %s\n", path);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	long inputs = 0, bad = 0;
	for (int a = 1; a < argc; a++) {
		struct stat st;
		if (stat(argv[a], &st) < 0) {
			printf("FAIL %s: %s: %s\n", prog, argv[a], strerror(errno));
			bad++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad += replay_file(argv[a]) < 0;
			inputs++;
			continue;
		}
		struct dirent **ents;
		int n = scandir(argv[a], &ents, NULL, alphasort);
		if (n < 0) {
			printf("FAIL %s: %s: %s\n", prog, argv[a], strerror(errno));
			bad++;
			continue;
		}
		for (int i = 0; i < n; i++) {
			char *path;
			struct stat fs;
			if (ents[i]->d_name[0] != '.' && asprintf(&path, "%s/%s", argv[a], ents[i]->d_name) >= 0) {
				if (stat(path, &fs) == 0 && S_ISREG(fs.st_mode)) {
					bad += replay_file(path) < 0;
					inputs++;
				}
				free(path);
			}
			free(ents[i]);
		}
		free(ents);
	}
	if (inputs == 0)
		printf("FAIL %s: no input files (an empty or missing corpus)\n", prog);
	else if (!bad)
		printf("PASS %s: %ld inputs\n", prog, inputs);
	return inputs == 0 || bad;
}
