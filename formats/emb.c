/* emb.c: reader and writer of the embeddings stream (.ave); the byte layout is normative in formats/emb.md. */
#include "emb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fmt_io.h"

static const unsigned char AVE_MAGIC[8] = {0x89, 'A', 'V', 'E', '\r', '\n', 0x1a, '\n'};
enum { AVE_MAJOR = 1, AVE_MINOR = 0, AVE_HEADER_BYTES = 64, AVE_RECORD_HEAD = 16, AVE_MAX_DIM = 65536 };
#define AVE_FLAG_CERT 1u

uint64_t ave_record_floats(const ave_header *h)
{
	uint64_t s = 0;
	uint32_t L = h->levels <= AVE_MAX_LEVELS ? h->levels : AVE_MAX_LEVELS;
	for (uint32_t l = 0; l < L; l++)
		s += h->dim[l];
	return s * (h->has_cert ? 2 : 1);
}

int ave_check_header(const ave_header *h, const char *name, fmt_error *err)
{
	if (h->kind != AVE_KIND_AVSL && h->kind != AVE_KIND_BASELINE && h->kind != AVE_KIND_PLAIN)
		return fmt_fail(err, "%s: kind: %d, expected 1 (avsl), 2 (baseline) or 3 (plain)", name, (int)h->kind);
	if (h->levels < 1 || h->levels > AVE_MAX_LEVELS)
		return fmt_fail(err, "%s: levels: %u, expected 1..%d", name, h->levels, AVE_MAX_LEVELS);
	for (uint32_t l = 0; l < h->levels; l++)
		if (h->dim[l] < 1 || h->dim[l] > AVE_MAX_DIM)
			return fmt_fail(err, "%s: dim[%u]: %u, expected 1..%d", name, l, h->dim[l], AVE_MAX_DIM);
	return 0;
}

int ave_write_header(FILE *fp, const char *name, const ave_header *h, fmt_error *err)
{
	if (ave_check_header(h, name, err) < 0)
		return -1;
	unsigned char b[AVE_HEADER_BYTES] = {0};
	memcpy(b, AVE_MAGIC, 8);
	fmt_put16(b + 8, AVE_MAJOR);
	fmt_put16(b + 10, AVE_MINOR);
	fmt_put16(b + 12, (uint16_t)h->kind);
	fmt_put16(b + 14, (uint16_t)h->levels);
	fmt_put32(b + 16, h->has_cert ? AVE_FLAG_CERT : 0);
	fmt_put64(b + 24, h->count);
	for (uint32_t l = 0; l < h->levels; l++)
		fmt_put32(b + 32 + 4 * l, h->dim[l]);
	if (fwrite(b, 1, sizeof b, fp) != sizeof b)
		return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	return 0;
}

/* Where value j of a record sits, for messages: "level 1 certainty [17]". */
static void locate(const ave_header *h, uint64_t j, char *buf, size_t cap)
{
	uint64_t half = ave_record_floats(h) / (h->has_cert ? 2 : 1);
	int cert = j >= half;
	uint64_t r = cert ? j - half : j;
	uint32_t l = 0;
	while (l + 1 < h->levels && r >= h->dim[l])
		r -= h->dim[l++];
	snprintf(buf, cap, "level %u %s [%llu]", l, cert ? "certainty" : "embedding", (unsigned long long)r);
}

int ave_write_record(FILE *fp, const char *name, const ave_header *h, int64_t id, int32_t label, const float *vals,
		     fmt_error *err)
{
	uint64_t nf = ave_record_floats(h);
	for (uint64_t j = 0; j < nf; j++)
		if (!isfinite(vals[j])) {
			char where[80];
			locate(h, j, where, sizeof where);
			return fmt_fail(err, "%s: record id %lld: %s is %s, expected a finite value", name, (long long)id,
					where, isnan(vals[j]) ? "NaN" : "infinite");
		}
	unsigned char head[AVE_RECORD_HEAD] = {0};
	fmt_put64(head, (uint64_t)id);
	fmt_put32(head + 8, (uint32_t)label);
	if (fwrite(head, 1, sizeof head, fp) != sizeof head)
		return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	if (fmt_host_le()) {
		if (nf && fwrite(vals, 4, nf, fp) != nf)
			return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
		return 0;
	}
	unsigned char b[4];
	for (uint64_t j = 0; j < nf; j++) {
		fmt_putf32(b, vals[j]);
		if (fwrite(b, 1, 4, fp) != 4)
			return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	}
	return 0;
}

int ave_read_header(FILE *fp, const char *name, ave_header *h, fmt_error *err)
{
	unsigned char b[AVE_HEADER_BYTES];
	size_t got = fmt_read(fp, b, sizeof b);
	memset(h, 0, sizeof *h);
	if (got < 8 || memcmp(b, AVE_MAGIC, 8) != 0) {
		if (got >= 8 || (got && memcmp(b, AVE_MAGIC, got) != 0))
			return fmt_fail(err, "%s: magic: not an embeddings stream (.ave), expected bytes 89 41 56 45 0d 0a 1a 0a",
					name);
		return fmt_fail(err, "%s: header: truncated after %zu of %d bytes (%s)", name, got, AVE_HEADER_BYTES,
				fmt_read_why(fp));
	}
	uint16_t major = fmt_get16(b + 8);
	if (got >= 10 && major != AVE_MAJOR)
		return fmt_fail(err, "%s: version: major %u, this reader knows %d", name, major, AVE_MAJOR);
	if (got < sizeof b)
		return fmt_fail(err, "%s: header: truncated after %zu of %d bytes (%s)", name, got, AVE_HEADER_BYTES,
				fmt_read_why(fp));
	/* any minor version of major 1 is read: a newer minor only gives meaning to fields that are zero here */
	h->kind = (ave_kind)fmt_get16(b + 12);
	h->levels = fmt_get16(b + 14);
	uint32_t flags = fmt_get32(b + 16);
	if (flags & ~AVE_FLAG_CERT)
		return fmt_fail(err, "%s: flags: 0x%08x has reserved bits set, expected 0 or 1", name, flags);
	h->has_cert = (flags & AVE_FLAG_CERT) != 0;
	if (fmt_get32(b + 20) != 0)
		return fmt_fail(err, "%s: reserved field at byte 20: %u, expected 0", name, fmt_get32(b + 20));
	h->count = fmt_get64(b + 24);
	for (int l = 0; l < AVE_MAX_LEVELS; l++)
		h->dim[l] = fmt_get32(b + 32 + 4 * l);
	if (ave_check_header(h, name, err) < 0)
		return -1;
	for (uint32_t l = h->levels; l < AVE_MAX_LEVELS; l++)
		if (h->dim[l] != 0)
			return fmt_fail(err, "%s: dim[%u]: %u beyond levels %u, expected 0", name, l, h->dim[l], h->levels);
	return 0;
}

int ave_read_record(FILE *fp, const char *name, const ave_header *h, uint64_t index, int64_t *id, int32_t *label,
		    float *vals, fmt_error *err)
{
	unsigned long long ix = (unsigned long long)index;
	if (h->count != AVE_COUNT_UNKNOWN && index >= h->count) {
		int c = getc(fp);
		if (c == EOF && !ferror(fp))
			return 0;
		if (c == EOF)
			return fmt_fail(err, "%s: read error after record %llu: %s", name, ix, fmt_read_why(fp));
		return fmt_fail(err, "%s: record %llu: more records than the header's count %llu", name, ix,
				(unsigned long long)h->count);
	}
	unsigned char head[AVE_RECORD_HEAD];
	size_t got = fmt_read(fp, head, sizeof head);
	if (got == 0 && !ferror(fp)) {
		if (h->count == AVE_COUNT_UNKNOWN)
			return 0;
		return fmt_fail(err, "%s: record %llu: end of file, the header promised %llu records", name, ix,
				(unsigned long long)h->count);
	}
	uint64_t nf = ave_record_floats(h), rec = AVE_RECORD_HEAD + 4 * nf;
	if (got < sizeof head)
		return fmt_fail(err, "%s: record %llu: truncated after %zu of %llu bytes (%s)", name, ix, got,
				(unsigned long long)rec, fmt_read_why(fp));
	got = fmt_read(fp, vals, 4 * nf);
	if (got < 4 * nf)
		return fmt_fail(err, "%s: record %llu: truncated after %llu of %llu bytes (%s)", name, ix,
				(unsigned long long)(AVE_RECORD_HEAD + got), (unsigned long long)rec, fmt_read_why(fp));
	*id = (int64_t)fmt_get64(head);
	*label = (int32_t)fmt_get32(head + 8);
	if (fmt_get32(head + 12) != 0)
		return fmt_fail(err, "%s: record %llu: reserved field: %u, expected 0", name, ix, fmt_get32(head + 12));
	if (!fmt_host_le())
		for (uint64_t j = 0; j < nf; j++)
			vals[j] = fmt_getf32((const unsigned char *)&vals[j]);
	for (uint64_t j = 0; j < nf; j++)
		if (!isfinite(vals[j])) {
			char where[80];
			locate(h, j, where, sizeof where);
			return fmt_fail(err, "%s: record %llu (id %lld): %s is %s, expected a finite value", name, ix,
					(long long)*id, where, isnan(vals[j]) ? "NaN" : "infinite");
		}
	return 1;
}

void ave_free(ave_set *s)
{
	free(s->id);
	free(s->label);
	for (int l = 0; l < AVE_MAX_LEVELS; l++) {
		free(s->emb[l]);
		free(s->cert[l]);
	}
	memset(s, 0, sizeof *s);
}

/* Grow every array of s to hold cap records. */
static int grow(ave_set *s, uint64_t cap)
{
	if (cap > SIZE_MAX / 8 / AVE_MAX_DIM)
		return -1;
	void *p = realloc(s->id, cap * sizeof *s->id);
	if (!p)
		return -1;
	s->id = p;
	if (!(p = realloc(s->label, cap * sizeof *s->label)))
		return -1;
	s->label = p;
	for (uint32_t l = 0; l < s->h.levels; l++) {
		if (!(p = realloc(s->emb[l], cap * s->h.dim[l] * sizeof(float))))
			return -1;
		s->emb[l] = p;
		if (s->h.has_cert) {
			if (!(p = realloc(s->cert[l], cap * s->h.dim[l] * sizeof(float))))
				return -1;
			s->cert[l] = p;
		}
	}
	return 0;
}

int ave_load(FILE *fp, const char *name, ave_set *s, fmt_error *err)
{
	memset(s, 0, sizeof *s);
	if (ave_read_header(fp, name, &s->h, err) < 0)
		return -1;
	return ave_load_block(fp, name, s, 0, UINT64_MAX, err) < 0 ? -1 : 0;
}

int64_t ave_load_block(FILE *fp, const char *name, ave_set *s, uint64_t first, uint64_t max, fmt_error *err)
{
	ave_header h = s->h;
	ave_free(s);
	s->h = h;
	uint64_t nf = ave_record_floats(&s->h), cap = 0;
	float *vals = malloc(nf * sizeof *vals);
	if (!vals)
		return fmt_fail(err, "%s: out of memory", name);
	while (s->n < max) {
		if (s->n == cap) {
			/* never trust the count for the first allocation: a corrupt header would ask for terabytes */
			uint64_t want = cap ? cap * 2 : 1024;
			if (s->h.count != AVE_COUNT_UNKNOWN && s->h.count > first + s->n && s->h.count - first < want)
				want = s->h.count - first;
			if (want > max)
				want = max;
			if (grow(s, want) < 0) {
				free(vals);
				ave_free(s);
				return fmt_fail(err, "%s: out of memory after %llu records", name,
						(unsigned long long)(first + cap));
			}
			cap = want;
		}
		int64_t id;
		int32_t label;
		int rc = ave_read_record(fp, name, &s->h, first + s->n, &id, &label, vals, err);
		if (rc <= 0) {
			free(vals);
			if (rc < 0)
				ave_free(s);
			return rc < 0 ? -1 : (int64_t)s->n;
		}
		s->id[s->n] = id;
		s->label[s->n] = label;
		const float *v = vals;
		for (int part = 0; part < (s->h.has_cert ? 2 : 1); part++)
			for (uint32_t l = 0; l < s->h.levels; l++) {
				float *dst = (part ? s->cert[l] : s->emb[l]) + s->n * s->h.dim[l];
				memcpy(dst, v, s->h.dim[l] * sizeof(float));
				v += s->h.dim[l];
			}
		s->n++;
	}
	free(vals);
	return (int64_t)s->n;
}
