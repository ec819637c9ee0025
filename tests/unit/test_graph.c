/* Unit tests for formats/graph (the .avg neighbour graph, formats/graph.md): round trips through a file and a
 * pipe, the exact header bytes, and one case per rejection rule. */
#include "graph.h"
#include "harness.h"

#include <stdint.h>
#include <unistd.h>

#define feed harness_feed

static avg_header hdr(uint32_t k, uint64_t nq)
{
	avg_header h = {.k = k, .nq = nq};
	strcpy(h.metric, "avsl");
	return h;
}

/* Query q of the test graph: label q % 3, count = min(q, k) neighbours at distances q + j/4. */
static void make_query(uint32_t k, int q, avg_query *qu, avg_neighbour *nb)
{
	qu->id = 100 + q;
	qu->label = q % 3;
	qu->n_relevant = 9;
	qu->count = (uint32_t)q < k ? (uint32_t)q : k;
	for (uint32_t j = 0; j < qu->count; j++) {
		nb[j].id = 1000 + q * 10 + j;
		nb[j].label = (int32_t)j % 4;
		nb[j].dist = q + j / 4.0f;
	}
}

static unsigned char *make_graph(const avg_header *h, int nq, size_t *len)
{
	FILE *fp = tmpfile();
	fmt_error err;
	avg_query q;
	avg_neighbour nb[16];
	avg_write_header(fp, "t", h, &err);
	for (int i = 0; i < nq; i++) {
		make_query(h->k, i, &q, nb);
		avg_write_query(fp, "t", h, &q, nb, &err);
	}
	*len = (size_t)ftell(fp);
	rewind(fp);
	unsigned char *b = malloc(*len + 16);
	if (fread(b, 1, *len, fp) != *len)
		*len = 0;
	fclose(fp);
	return b;
}

/* Read a whole graph; returns the number of queries or -1 with err. */
static long read_all(FILE *fp, const char *name, fmt_error *err)
{
	avg_header h;
	if (avg_read_header(fp, name, &h, err) < 0)
		return -1;
	avg_neighbour *nb = malloc(h.k * sizeof *nb);
	avg_query q;
	long n = 0;
	int rc;
	while ((rc = avg_read_query(fp, name, &h, (uint64_t)n, &q, nb, err)) == 1)
		n++;
	free(nb);
	return rc < 0 ? -1 : n;
}

static int fails_with(const void *b, size_t n, const char *want, char *got, size_t gl)
{
	FILE *fp = feed(b, n);
	fmt_error err = {{0}};
	long r = read_all(fp, "g.avg", &err);
	fclose(fp);
	snprintf(got, gl, "%.400s", r >= 0 ? "(accepted)" : err.msg);
	return r == -1 && strncmp(err.msg, "g.avg: ", 7) == 0 && strstr(err.msg, want);
}

#define FAILS(b, n, want)                                                                                          \
	do {                                                                                                       \
		char got_[420];                                                                                    \
		CHECKF(fails_with(b, n, want, got_, sizeof got_), "got '%s', expected '%s'", got_, want);          \
	} while (0)

TEST(header_bytes_are_the_documented_layout)
{
	avg_header h = hdr(100, 5000);
	strcpy(h.metric, "level:1");
	unsigned char want[64] = {0x89, 'A', 'V', 'G', '\r', '\n', 0x1a, '\n', 1, 0, 0, 0, 100, 0, 0, 0,
				  0x88, 0x13, 0, 0, 0, 0, 0, 0, 'l', 'e', 'v', 'e', 'l', ':', '1'};
	FILE *fp = tmpfile();
	fmt_error err;
	CHECK(avg_write_header(fp, "t", &h, &err) == 0 && ftell(fp) == 64);
	unsigned char got[64];
	rewind(fp);
	CHECK(fread(got, 1, 64, fp) == 64);
	fclose(fp);
	CHECK(memcmp(got, want, 64) == 0);
}

TEST(roundtrip_file)
{
	avg_header h = hdr(4, 7);
	size_t n;
	unsigned char *b = make_graph(&h, 7, &n);
	/* queries 0..6 hold 0,1,2,3,4,4,4 neighbours */
	CHECK(n == 64 + 7 * 24 + 18 * 16);
	FILE *fp = feed(b, n);
	free(b);
	avg_header g;
	fmt_error err;
	CHECKF(avg_read_header(fp, "t", &g, &err) == 0, "%s", err.msg);
	CHECK(g.k == 4 && g.nq == 7 && !strcmp(g.metric, "avsl"));
	avg_query q, wq;
	avg_neighbour nb[4], wnb[4];
	for (int i = 0; i < 7; i++) {
		CHECKF(avg_read_query(fp, "t", &g, i, &q, nb, &err) == 1, "%s", err.msg);
		make_query(4, i, &wq, wnb);
		CHECK(q.id == wq.id && q.label == wq.label && q.n_relevant == 9 && q.count == wq.count);
		for (uint32_t j = 0; j < q.count; j++)
			CHECK(nb[j].id == wnb[j].id && nb[j].label == wnb[j].label && nb[j].dist == wnb[j].dist);
	}
	CHECKF(avg_read_query(fp, "t", &g, 7, &q, nb, &err) == 0, "%s", err.msg);
	fclose(fp);
}

TEST(roundtrip_pipe_unknown_count)
{
	avg_header h = hdr(3, AVG_COUNT_UNKNOWN);
	size_t n;
	unsigned char *b = make_graph(&h, 20, &n); /* < 4 KB: fits in the pipe buffer */
	int fds[2];
	CHECK(pipe(fds) == 0);
	CHECK(write(fds[1], b, n) == (ssize_t)n);
	close(fds[1]);
	free(b);
	FILE *in = fdopen(fds[0], "rb");
	fmt_error err;
	long got = read_all(in, "pipe", &err);
	fclose(in);
	CHECKF(got == 20, "%ld: %.300s", got, err.msg);
}

TEST(rejects_bad_header)
{
	avg_header h = hdr(4, 3);
	size_t n;
	unsigned char *good = make_graph(&h, 3, &n), b[512];
#define MUTATE(off, value, want)                                                                                   \
	do {                                                                                                       \
		memcpy(b, good, n);                                                                                \
		b[off] = (value);                                                                                  \
		FAILS(b, n, want);                                                                                 \
	} while (0)
	MUTATE(3, 'E', "magic: not a neighbour graph");
	MUTATE(9, 1, "version: major 257, this reader knows 1");
	MUTATE(12, 0, "k: 0, expected 1..16777216");
	MUTATE(15, 1, "k: 16777220");
	MUTATE(24, 0, "metric: empty");
	MUTATE(25, ' ', "metric: byte 1 is 0x20");
	MUTATE(30, 'x', "metric: byte 6 after the terminating NUL is 0x78");
	MUTATE(60, 1, "reserved field at byte 56");
	memcpy(b, good, n);
	memset(b + 24, 'a', 32);
	FAILS(b, n, "metric: not NUL-terminated");
	for (size_t cut = 0; cut < 64; cut++)
		FAILS(good, cut, cut < 8 || cut >= 10 ? "header: truncated" : "truncated");
	free(good);
}

TEST(rejects_bad_queries_and_truncation)
{
	avg_header h = hdr(4, 3);
	size_t n;
	unsigned char *good = make_graph(&h, 3, &n), b[512];
	/* layout: header 64, q0 (24, 0 nb) at 64, q1 (24 + 16) at 88, q2 (24 + 32) at 128, end 184 */
	CHECK(n == 184);
	FAILS(good, 64, "query 0: end of file, the header promised 3 queries");
	FAILS(good, 64 + 10, "query 0: truncated after 10 of 24 header bytes");
	FAILS(good, 128 + 24 + 20, "query 2 (id 102): neighbour 1 of 2 truncated after 4 of 16 bytes");
	FAILS(good, 128, "query 2: end of file");
	memcpy(b, good, n);
	b[n] = 9;
	FAILS(b, n + 1, "query 3: more queries than the header's nq 3");
	MUTATE(88 + 16, 5, "query 1 (id 101): count 5, expected at most k = 4");
	MUTATE(88 + 20, 1, "query 1 (id 101): reserved field: 1");
	float nan = NAN, big = 9.0f;
	memcpy(b, good, n);
	memcpy(b + 128 + 24 + 16 + 12, &nan, 4);
	FAILS(b, n, "query 2 (id 102): neighbour 1: distance is NaN");
	memcpy(b, good, n);
	memcpy(b + 128 + 24 + 12, &big, 4);
	FAILS(b, n, "query 2 (id 102): neighbour 1: distance 2.25 after 9, expected ascending");
	memcpy(b, good, n);
	b[128 + 8] = 1;  /* label 1: neighbour 1 shares it */
	b[128 + 12] = 0; /* n_relevant 0 */
	FAILS(b, n, "query 2 (id 102): 1 neighbours share its label, but n_relevant is 0");
	free(good);
}

TEST(writer_refuses_invalid_queries)
{
	avg_header h = hdr(2, AVG_COUNT_UNKNOWN);
	avg_query q = {.id = 5, .label = 1, .n_relevant = 3, .count = 2};
	avg_neighbour nb[3] = {{1, 1, 0.5f}, {2, 0, 0.25f}, {3, 0, 1}};
	FILE *fp = tmpfile();
	fmt_error err;
	CHECK(avg_write_header(fp, "w", &h, &err) == 0);
	CHECK(avg_write_query(fp, "w", &h, &q, nb, &err) == -1);
	CHECKF(!strcmp(err.msg, "w: query id 5: neighbour 1: distance 0.25 after 0.5, expected ascending distances"),
	       "%s", err.msg);
	q.count = 3;
	CHECK(avg_write_query(fp, "w", &h, &q, nb, &err) == -1 && strstr(err.msg, "count 3, expected at most k = 2"));
	nb[1].dist = INFINITY;
	q.count = 2;
	CHECK(avg_write_query(fp, "w", &h, &q, nb, &err) == -1 && strstr(err.msg, "distance is infinite"));
	CHECK(ftell(fp) == 64);
	strcpy(h.metric, "has space");
	CHECK(avg_write_header(fp, "w", &h, &err) == -1 && strstr(err.msg, "metric: byte 3 is 0x20"));
	fclose(fp);
}

int main(void)
{
	RUN(header_bytes_are_the_documented_layout);
	RUN(roundtrip_file);
	RUN(roundtrip_pipe_unknown_count);
	RUN(rejects_bad_header);
	RUN(rejects_bad_queries_and_truncation);
	RUN(writer_refuses_invalid_queries);
	return harness_finish();
}
