/* graph.c: reader and writer of the neighbour graph (.avg); the byte layout is normative in formats/graph.md. */
#include "graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fmt_io.h"

static const unsigned char AVG_MAGIC[8] = {0x89, 'A', 'V', 'G', '\r', '\n', 0x1a, '\n'};
enum { AVG_MAJOR = 1, AVG_MINOR = 0, AVG_HEADER_BYTES = 64, AVG_QUERY_BYTES = 24, AVG_NB_BYTES = 16 };

int avg_check_header(const avg_header *h, const char *name, fmt_error *err)
{
	if (h->k < 1 || h->k > AVG_MAX_K)
		return fmt_fail(err, "%s: k: %u, expected 1..%d", name, h->k, AVG_MAX_K);
	size_t n = strnlen(h->metric, sizeof h->metric);
	if (n == 0 || n == sizeof h->metric)
		return fmt_fail(err, "%s: metric: %s, expected 1..31 characters", name, n ? "not NUL-terminated" : "empty");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h->metric[i];
		if (c < 0x21 || c > 0x7e)
			return fmt_fail(err, "%s: metric: byte %zu is 0x%02x, expected printable ASCII without spaces", name,
					i, c);
	}
	return 0;
}

int avg_write_header(FILE *fp, const char *name, const avg_header *h, fmt_error *err)
{
	if (avg_check_header(h, name, err) < 0)
		return -1;
	unsigned char b[AVG_HEADER_BYTES] = {0};
	memcpy(b, AVG_MAGIC, 8);
	fmt_put16(b + 8, AVG_MAJOR);
	fmt_put16(b + 10, AVG_MINOR);
	fmt_put32(b + 12, h->k);
	fmt_put64(b + 16, h->nq);
	memcpy(b + 24, h->metric, strlen(h->metric)); /* the rest stays NUL */
	if (fwrite(b, 1, sizeof b, fp) != sizeof b)
		return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	return 0;
}

/* The rules a query record obeys (graph.md, "Query record"), shared by the writer and the reader; who names the
 * record in messages ("query 12 (id 5)"). */
static int check_query(const char *name, const avg_header *h, const char *who, const avg_query *q,
		       const avg_neighbour *nb, fmt_error *err)
{
	if (q->count > h->k)
		return fmt_fail(err, "%s: %s: count %u, expected at most k = %u", name, who, q->count, h->k);
	uint32_t same = 0;
	for (uint32_t j = 0; j < q->count; j++) {
		if (!isfinite(nb[j].dist))
			return fmt_fail(err, "%s: %s: neighbour %u: distance is %s, expected a finite value", name, who, j,
					isnan(nb[j].dist) ? "NaN" : "infinite");
		if (j && nb[j].dist < nb[j - 1].dist)
			return fmt_fail(err, "%s: %s: neighbour %u: distance %.9g after %.9g, expected ascending distances",
					name, who, j, nb[j].dist, nb[j - 1].dist);
		same += nb[j].label == q->label;
	}
	if (same > q->n_relevant)
		return fmt_fail(err, "%s: %s: %u neighbours share its label, but n_relevant is %u", name, who, same,
				q->n_relevant);
	return 0;
}

int avg_write_query(FILE *fp, const char *name, const avg_header *h, const avg_query *q, const avg_neighbour *nb,
		    fmt_error *err)
{
	char who[64];
	snprintf(who, sizeof who, "query id %lld", (long long)q->id);
	if (check_query(name, h, who, q, nb, err) < 0)
		return -1;
	unsigned char b[AVG_QUERY_BYTES] = {0};
	fmt_put64(b, (uint64_t)q->id);
	fmt_put32(b + 8, (uint32_t)q->label);
	fmt_put32(b + 12, q->n_relevant);
	fmt_put32(b + 16, q->count);
	if (fwrite(b, 1, sizeof b, fp) != sizeof b)
		return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	for (uint32_t j = 0; j < q->count; j++) {
		unsigned char e[AVG_NB_BYTES];
		fmt_put64(e, (uint64_t)nb[j].id);
		fmt_put32(e + 8, (uint32_t)nb[j].label);
		fmt_putf32(e + 12, nb[j].dist);
		if (fwrite(e, 1, sizeof e, fp) != sizeof e)
			return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	}
	return 0;
}

int avg_read_header(FILE *fp, const char *name, avg_header *h, fmt_error *err)
{
	unsigned char b[AVG_HEADER_BYTES];
	size_t got = fmt_read(fp, b, sizeof b);
	memset(h, 0, sizeof *h);
	if (got < 8 || memcmp(b, AVG_MAGIC, 8) != 0) {
		if (got >= 8 || (got && memcmp(b, AVG_MAGIC, got) != 0))
			return fmt_fail(err, "%s: magic: not a neighbour graph (.avg), expected bytes 89 41 56 47 0d 0a 1a 0a",
					name);
		return fmt_fail(err, "%s: header: truncated after %zu of %d bytes (%s)", name, got, AVG_HEADER_BYTES,
				fmt_read_why(fp));
	}
	uint16_t major = fmt_get16(b + 8);
	if (got >= 10 && major != AVG_MAJOR)
		return fmt_fail(err, "%s: version: major %u, this reader knows %d", name, major, AVG_MAJOR);
	if (got < sizeof b)
		return fmt_fail(err, "%s: header: truncated after %zu of %d bytes (%s)", name, got, AVG_HEADER_BYTES,
				fmt_read_why(fp));
	h->k = fmt_get32(b + 12);
	h->nq = fmt_get64(b + 16);
	memcpy(h->metric, b + 24, 32);
	if (fmt_get64(b + 56) != 0)
		return fmt_fail(err, "%s: reserved field at byte 56: %llu, expected 0", name,
				(unsigned long long)fmt_get64(b + 56));
	if (avg_check_header(h, name, err) < 0)
		return -1;
	for (size_t i = strlen(h->metric); i < 32; i++)
		if (h->metric[i] != 0)
			return fmt_fail(err, "%s: metric: byte %zu after the terminating NUL is 0x%02x, expected 0", name, i,
					(unsigned char)h->metric[i]);
	return 0;
}

int avg_read_query(FILE *fp, const char *name, const avg_header *h, uint64_t index, avg_query *q, avg_neighbour *nb,
		   fmt_error *err)
{
	unsigned long long ix = (unsigned long long)index;
	if (h->nq != AVG_COUNT_UNKNOWN && index >= h->nq) {
		int c = getc(fp);
		if (c == EOF && !ferror(fp))
			return 0;
		if (c == EOF)
			return fmt_fail(err, "%s: read error after query %llu: %s", name, ix, fmt_read_why(fp));
		return fmt_fail(err, "%s: query %llu: more queries than the header's nq %llu", name, ix,
				(unsigned long long)h->nq);
	}
	unsigned char b[AVG_QUERY_BYTES];
	size_t got = fmt_read(fp, b, sizeof b);
	if (got == 0 && !ferror(fp)) {
		if (h->nq == AVG_COUNT_UNKNOWN)
			return 0;
		return fmt_fail(err, "%s: query %llu: end of file, the header promised %llu queries", name, ix,
				(unsigned long long)h->nq);
	}
	if (got < sizeof b)
		return fmt_fail(err, "%s: query %llu: truncated after %zu of %d header bytes (%s)", name, ix, got,
				AVG_QUERY_BYTES, fmt_read_why(fp));
	q->id = (int64_t)fmt_get64(b);
	q->label = (int32_t)fmt_get32(b + 8);
	q->n_relevant = fmt_get32(b + 12);
	q->count = fmt_get32(b + 16);
	if (fmt_get32(b + 20) != 0)
		return fmt_fail(err, "%s: query %llu (id %lld): reserved field: %u, expected 0", name, ix, (long long)q->id,
				fmt_get32(b + 20));
	if (q->count > h->k) /* before reading: nb has room for k entries only */
		return fmt_fail(err, "%s: query %llu (id %lld): count %u, expected at most k = %u", name, ix,
				(long long)q->id, q->count, h->k);
	for (uint32_t j = 0; j < q->count; j++) {
		unsigned char e[AVG_NB_BYTES];
		got = fmt_read(fp, e, sizeof e);
		if (got < sizeof e)
			return fmt_fail(err, "%s: query %llu (id %lld): neighbour %u of %u truncated after %zu of %d bytes (%s)",
					name, ix, (long long)q->id, j, q->count, got, AVG_NB_BYTES, fmt_read_why(fp));
		nb[j].id = (int64_t)fmt_get64(e);
		nb[j].label = (int32_t)fmt_get32(e + 8);
		nb[j].dist = fmt_getf32(e + 12);
	}
	char who[64];
	snprintf(who, sizeof who, "query %llu (id %lld)", ix, (long long)q->id);
	if (check_query(name, h, who, q, nb, err) < 0)
		return -1;
	return 1;
}
