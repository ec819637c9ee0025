/* shard_write.c: the .avs writer and manifest writer; the layout is specified in shard.md (normative).
 *
 * The writer streams (never seeks): header, records, then the class table, the index and a fixed-size footer that
 * points back at both. Records are encoded (filtered, compressed, checksummed) by shard_record_encode, which can
 * run in many threads, and appended in order by shard_writer_put, so the bytes never depend on the thread count.
 */
#define _GNU_SOURCE
#include "shard.h"
#include "shard_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ---- encoding ---------------------------------------------------------------------------------------------- */

void shard_zctx_free(void *zctx) { ZSTD_freeCCtx(zctx); }

void shard_encoded_free(shard_encoded *enc)
{
	free(enc->data);
	free(enc->class_name);
	memset(enc, 0, sizeof *enc);
}

int shard_record_encode(const shard_record *rec, int level, void **zctx, shard_encoded *enc, fmt_error *err)
{
	return shard_record_encode_ex(rec, level, SHARD_FILTER_GRADIENT, zctx, enc, err);
}

int shard_record_encode_ex(const shard_record *rec, int level, int filter, void **zctx, shard_encoded *enc,
			   fmt_error *err)
{
	memset(enc, 0, sizeof *enc);
	const char *cls = rec->class_name ? rec->class_name : "";
	const char *path = rec->path ? rec->path : "";
	size_t cl = strlen(cls), pl = strlen(path);
	if (rec->label < 0)
		return fmt_fail(err, "%s: label: %d, expected >= 0", path, (int)rec->label);
	if (rec->super_label < -1)
		return fmt_fail(err, "%s: super_label: %d, expected >= -1", path, (int)rec->super_label);
	if (rec->channels != 1 && rec->channels != 3)
		return fmt_fail(err, "%s: channels: %u, expected 1 or 3", path, rec->channels);
	if (rec->height == 0 || rec->width == 0)
		return fmt_fail(err, "%s: size: %ux%u, expected a non-empty image", path, rec->height, rec->width);
	if (cl > MAX_NAME || pl > MAX_NAME)
		return fmt_fail(err, "%s: class name or path longer than %d bytes", path, MAX_NAME);
	if (level < 1 || level > ZSTD_maxCLevel())
		return fmt_fail(err, "%s: zstd level %d, expected 1..%d", path, level, ZSTD_maxCLevel());
	if (filter != SHARD_FILTER_NONE && filter != SHARD_FILTER_GRADIENT)
		return fmt_fail(err, "%s: filter %d, expected 0 (none) or 1 (gradient)", path, filter);
	uint64_t npx = (uint64_t)rec->height * rec->width * rec->channels;
	uint64_t raw = PAYLOAD_HEAD + cl + pl + npx;
	if (raw > UINT32_MAX)
		return fmt_fail(err, "%s: record of %llu bytes, expected at most 4 GiB", path, (unsigned long long)raw);
	unsigned char *buf = malloc((size_t)raw);
	size_t cap = ZSTD_compressBound((size_t)raw);
	unsigned char *dst = malloc(cap);
	char *name = strdup(cls);
	if (!*zctx)
		*zctx = ZSTD_createCCtx();
	if (!buf || !dst || !name || !*zctx) {
		free(buf), free(dst), free(name);
		return fmt_fail(err, "%s: out of memory encoding a record", path);
	}
	put32(buf, (uint32_t)rec->label);
	put32(buf + 4, (uint32_t)rec->super_label);
	put32(buf + 8, rec->height);
	put32(buf + 12, rec->width);
	buf[16] = (unsigned char)rec->channels;
	buf[17] = (unsigned char)filter;
	put16(buf + 18, (uint32_t)cl);
	put16(buf + 20, (uint32_t)pl);
	put16(buf + 22, 0);
	memcpy(buf + PAYLOAD_HEAD, cls, cl);
	memcpy(buf + PAYLOAD_HEAD + cl, path, pl);
	if (filter == SHARD_FILTER_GRADIENT)
		filter_forward(rec->pixels, buf + PAYLOAD_HEAD + cl + pl, rec->height, rec->width, rec->channels);
	else
		memcpy(buf + PAYLOAD_HEAD + cl + pl, rec->pixels, (size_t)npx);
	/* Filtered pixels are small residuals with few long repeats: zstd's short matches cost more than Huffman-coded
	 * literals there, so matches are limited to 7+ bytes from a tiny table. On photos this is ~13% smaller and ~3x
	 * faster than the level's defaults, and every level gives about the same size. */
	ZSTD_CCtx_reset(*zctx, ZSTD_reset_session_and_parameters);
	size_t n = ZSTD_CCtx_setParameter(*zctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(n) && filter == SHARD_FILTER_GRADIENT) {
		n = ZSTD_CCtx_setParameter(*zctx, ZSTD_c_hashLog, 6);
		if (!ZSTD_isError(n))
			n = ZSTD_CCtx_setParameter(*zctx, ZSTD_c_chainLog, 6);
		if (!ZSTD_isError(n))
			n = ZSTD_CCtx_setParameter(*zctx, ZSTD_c_minMatch, 7);
	}
	if (!ZSTD_isError(n))
		n = ZSTD_compress2(*zctx, dst, cap, buf, (size_t)raw);
	free(buf);
	if (ZSTD_isError(n) || n > UINT32_MAX) {
		free(dst), free(name);
		return fmt_fail(err, "%s: zstd: %s", path, ZSTD_isError(n) ? ZSTD_getErrorName(n) : "frame too large");
	}
	enc->data = dst;
	enc->size = n;
	enc->raw_size = (size_t)raw;
	enc->label = rec->label;
	enc->super_label = rec->super_label;
	enc->crc = crc(dst, n);
	enc->class_name = name;
	return 0;
}

/* ---- writer ------------------------------------------------------------------------------------------------ */


struct shard_writer {
	FILE *fp;
	char *name;
	int level;
	void *zctx;
	uint64_t pos;
	index_entry *idx;
	size_t n, cap;
	class_entry *cls; /* sorted by label */
	size_t ncls, cls_cap;
};

static int wr(shard_writer *w, const void *p, size_t n, fmt_error *err)
{
	if (n && fwrite(p, 1, n, w->fp) != n)
		return fmt_fail(err, "%s: write failed: %s", w->name, strerror(errno));
	w->pos += n;
	return 0;
}

int shard_writer_open(shard_writer **wp, FILE *fp, const char *name, int level, fmt_error *err)
{
	*wp = NULL;
	if (level < 1 || level > ZSTD_maxCLevel())
		return fmt_fail(err, "%s: zstd level %d, expected 1..%d", name, level, ZSTD_maxCLevel());
	shard_writer *w = calloc(1, sizeof *w);
	if (!w || !(w->name = strdup(name))) {
		free(w);
		return fmt_fail(err, "%s: out of memory", name);
	}
	w->fp = fp;
	w->level = level;
	unsigned char h[HEADER_SIZE] = {0};
	memcpy(h, shard_magic, 8);
	put16(h + 8, SHARD_MAJOR);
	put16(h + 10, SHARD_MINOR);
	put32(h + 28, crc(h, 28));
	if (wr(w, h, sizeof h, err)) {
		shard_writer_abort(w);
		return -1;
	}
	*wp = w;
	return 0;
}

void shard_writer_abort(shard_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->ncls; i++)
		free(w->cls[i].name);
	free(w->cls);
	free(w->idx);
	free(w->name);
	ZSTD_freeCCtx(w->zctx);
	free(w);
}

/* Record the class of a label, refusing a second name for the same label (the class table has one per label). */
static int note_class(shard_writer *w, int32_t label, const char *name, fmt_error *err)
{
	size_t lo = 0, hi = w->ncls;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (w->cls[mid].label < label)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < w->ncls && w->cls[lo].label == label) {
		if (strcmp(w->cls[lo].name, name) != 0)
			return fmt_fail(err, "%s: record %zu: class name '%s' for label %d, but earlier records call it '%s'",
					w->name, w->n, name, (int)label, w->cls[lo].name);
		return 0;
	}
	if (w->ncls == w->cls_cap) {
		size_t nc = w->cls_cap ? 2 * w->cls_cap : 64;
		class_entry *c = realloc(w->cls, nc * sizeof *c);
		if (!c)
			return fmt_fail(err, "%s: out of memory", w->name);
		w->cls = c;
		w->cls_cap = nc;
	}
	char *copy = strdup(name);
	if (!copy)
		return fmt_fail(err, "%s: out of memory", w->name);
	memmove(w->cls + lo + 1, w->cls + lo, (w->ncls - lo) * sizeof *w->cls);
	w->cls[lo].label = label;
	w->cls[lo].name = copy;
	w->ncls++;
	return 0;
}

int shard_writer_put(shard_writer *w, const shard_encoded *enc, fmt_error *err)
{
	if (enc->size > UINT32_MAX || enc->raw_size > UINT32_MAX)
		return fmt_fail(err, "%s: record %zu: too large", w->name, w->n);
	if (note_class(w, enc->label, enc->class_name ? enc->class_name : "", err))
		return -1;
	if (w->n == w->cap) {
		size_t nc = w->cap ? 2 * w->cap : 256;
		index_entry *e = realloc(w->idx, nc * sizeof *e);
		if (!e)
			return fmt_fail(err, "%s: out of memory", w->name);
		w->idx = e;
		w->cap = nc;
	}
	index_entry *e = &w->idx[w->n];
	e->off = w->pos;
	e->size = (uint32_t)enc->size;
	e->raw_size = (uint32_t)enc->raw_size;
	e->crc = enc->crc;
	e->label = enc->label;
	e->super_label = enc->super_label;
	if (wr(w, enc->data, enc->size, err))
		return -1;
	w->n++;
	return 0;
}

int shard_writer_add(shard_writer *w, const shard_record *rec, fmt_error *err)
{
	shard_encoded enc;
	if (shard_record_encode(rec, w->level, &w->zctx, &enc, err))
		return -1;
	int rc = shard_writer_put(w, &enc, err);
	shard_encoded_free(&enc);
	return rc;
}

uint64_t shard_writer_count(const shard_writer *w) { return w->n; }
uint64_t shard_writer_bytes(const shard_writer *w) { return w->pos; }

int shard_writer_finish(shard_writer *w, uint64_t *total, fmt_error *err)
{
	int rc = -1;
	unsigned char *buf = NULL;
	/* class table */
	size_t ctsize = 0;
	for (size_t i = 0; i < w->ncls; i++)
		ctsize += 6 + strlen(w->cls[i].name);
	size_t isize = w->n * INDEX_ENTRY;
	buf = malloc(ctsize + isize + FOOTER_SIZE);
	if (!buf) {
		fmt_fail(err, "%s: out of memory", w->name);
		goto out;
	}
	unsigned char *p = buf;
	int32_t num_classes = 0;
	for (size_t i = 0; i < w->ncls; i++) {
		size_t l = strlen(w->cls[i].name);
		put32(p, (uint32_t)w->cls[i].label);
		put16(p + 4, (uint32_t)l);
		memcpy(p + 6, w->cls[i].name, l);
		p += 6 + l;
		num_classes = w->cls[i].label + 1;
	}
	uint64_t ct_off = w->pos, idx_off = w->pos + ctsize;
	for (size_t i = 0; i < w->n; i++, p += INDEX_ENTRY) {
		const index_entry *e = &w->idx[i];
		put64(p, e->off);
		put32(p + 8, e->size);
		put32(p + 12, e->raw_size);
		put32(p + 16, (uint32_t)e->label);
		put32(p + 20, (uint32_t)e->super_label);
		put32(p + 24, e->crc);
		put32(p + 28, 0);
	}
	memset(p, 0, FOOTER_SIZE);
	put64(p, w->n);
	put64(p + 8, ct_off);
	put64(p + 16, idx_off);
	put32(p + 24, (uint32_t)w->ncls);
	put32(p + 28, (uint32_t)num_classes);
	put32(p + 32, crc(buf, ctsize));
	put32(p + 36, crc(buf + ctsize, isize));
	put32(p + 52, crc(p, 52));
	memcpy(p + 56, footer_magic, 8);
	if (wr(w, buf, ctsize + isize + FOOTER_SIZE, err))
		goto out;
	if (total)
		*total = w->pos;
	rc = 0;
out:
	free(buf);
	shard_writer_abort(w);
	return rc;
}

int shard_manifest_write(FILE *fp, const char *name, char *const *shard_names, const uint64_t *counts, int n,
			 fmt_error *err)
{
	if (fputs(manifest_magic, fp) == EOF)
		return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *s = shard_names[i];
		if (!*s || strchr(s, '/') || strchr(s, '\n') || !strcmp(s, ".") || !strcmp(s, ".."))
			return fmt_fail(err, "%s: shard name '%s': expected a file name in the manifest's folder", name, s);
		if (fprintf(fp, "%llu %s\n", (unsigned long long)counts[i], s) < 0)
			return fmt_fail(err, "%s: write failed: %s", name, strerror(errno));
	}
	return 0;
}
