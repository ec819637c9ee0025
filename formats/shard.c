/* shard.c: image shards (.avs) and manifests (.avsm); the layout is specified in shard.md (normative).
 *
 * The writer streams (never seeks): header, records, then the class table, the index and a fixed-size footer that
 * points back at both, so the reader opens a shard by reading 32 bytes at the start and 64 at the end. Records are
 * read with pread() on a shared descriptor, so any number of threads can read one reader at once.
 */
#define _GNU_SOURCE
#include "shard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define HEADER_SIZE 32
#define FOOTER_SIZE 64
#define INDEX_ENTRY 32
#define PAYLOAD_HEAD 24
#define MAX_NAME 4095 /* class names and paths */
#define MANIFEST_MAX (16u << 20)

static const unsigned char shard_magic[8] = {0x89, 'A', 'V', 'S', '\r', '\n', 0x1a, '\n'};
static const unsigned char footer_magic[8] = {'A', 'V', 'S', 'F', 'O', 'O', 'T', 'R'};
static const char manifest_magic[] = "AVSM 1.0\n";

enum { SHARD_MAJOR = 1, SHARD_MINOR = 0 };

/* ---- little-endian helpers -------------------------------------------------------------------------------- */

static void put16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint32_t crc(const void *p, size_t n) { return (uint32_t)crc32_z(0, (const Bytef *)p, n); }

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

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
	buf[17] = 0;
	put16(buf + 18, (uint32_t)cl);
	put16(buf + 20, (uint32_t)pl);
	put16(buf + 22, 0);
	memcpy(buf + PAYLOAD_HEAD, cls, cl);
	memcpy(buf + PAYLOAD_HEAD + cl, path, pl);
	memcpy(buf + PAYLOAD_HEAD + cl + pl, rec->pixels, (size_t)npx);
	size_t n = ZSTD_compressCCtx(*zctx, dst, cap, buf, (size_t)raw, level);
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

typedef struct {
	uint64_t off;
	uint32_t size, raw_size, crc;
	int32_t label, super_label;
} index_entry;

typedef struct {
	int32_t label;
	char *name;
} class_entry;

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

/* ---- reader ------------------------------------------------------------------------------------------------ */

typedef struct {
	char *path;
	int fd;
	uint64_t base, count, file_size;
	index_entry *idx;
	uint32_t nclass;
	class_entry *cls;
	int32_t num_classes;
} shard_file;

struct shard_reader {
	int n;
	shard_file *s;
	uint64_t count;
	int32_t num_classes;
	class_entry *cls; /* merged class table, sorted by label; names borrowed from the shards */
	uint32_t ncls;
};

static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
	unsigned char *p = buf;
	while (n) {
		ssize_t got = pread(fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got, n -= (size_t)got, off += (uint64_t)got;
	}
	return 0;
}

static void shard_file_free(shard_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	for (uint32_t i = 0; i < f->nclass; i++)
		free(f->cls[i].name);
	free(f->cls);
	free(f->idx);
	free(f->path);
}

static int open_shard(shard_file *f, const char *path, fmt_error *err)
{
	memset(f, 0, sizeof *f);
	f->fd = -1;
	if (!(f->path = strdup(path)))
		return fmt_fail(err, "%s: out of memory", path);
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return fmt_fail(err, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(f->fd, &st) != 0)
		return fmt_fail(err, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fmt_fail(err, "%s: not a regular file, expected a shard (it is read by random access)", path);
	f->file_size = (uint64_t)st.st_size;
	unsigned char m[8];
	/* the magic first: "not a shard" is a better message than "too short" for a small text file */
	if (f->file_size >= 8 && read_at(f->fd, m, 8, 0) == 0 && memcmp(m, shard_magic, 8) != 0)
		return fmt_fail(err, "%s: header: magic: found %02x %02x %02x %02x..., expected 89 41 56 53 (an .avs shard)",
				path, m[0], m[1], m[2], m[3]);
	if (f->file_size < HEADER_SIZE + FOOTER_SIZE)
		return fmt_fail(err, "%s: file: %llu bytes, expected at least %d (truncated?)", path,
				(unsigned long long)f->file_size, HEADER_SIZE + FOOTER_SIZE);
	unsigned char h[HEADER_SIZE], ft[FOOTER_SIZE];
	if (read_at(f->fd, h, sizeof h, 0) || read_at(f->fd, ft, sizeof ft, f->file_size - FOOTER_SIZE))
		return fmt_fail(err, "%s: read error: %s", path, strerror(errno));
	if (memcmp(h, shard_magic, 8) != 0)
		return fmt_fail(err, "%s: header: magic: found %02x %02x %02x %02x..., expected 89 41 56 53 (an .avs shard)",
				path, h[0], h[1], h[2], h[3]);
	uint32_t major = get16(h + 8), minor = get16(h + 10);
	if (major != SHARD_MAJOR)
		return fmt_fail(err, "%s: header: version: %u.%u, expected major version %d", path, major, minor,
				SHARD_MAJOR);
	if (get32(h + 28) != crc(h, 28))
		return fmt_fail(err, "%s: header: checksum: found %08x, computed %08x (header corrupted)", path,
				get32(h + 28), crc(h, 28));
	if (get32(h + 12) != 0)
		return fmt_fail(err, "%s: header: flags: %08x, expected 0 (no flags are defined)", path, get32(h + 12));
	if (minor == SHARD_MINOR && !all_zero(h + 16, 12))
		return fmt_fail(err, "%s: header: reserved bytes 16..27 not zero", path);
	if (memcmp(ft + 56, footer_magic, 8) != 0)
		return fmt_fail(err, "%s: footer: magic: not found at the end of the file, expected 'AVSFOOTR' "
				     "(truncated or still being written?)", path);
	if (get32(ft + 52) != crc(ft, 52))
		return fmt_fail(err, "%s: footer: checksum: found %08x, computed %08x (footer corrupted)", path,
				get32(ft + 52), crc(ft, 52));
	if (minor == SHARD_MINOR && !all_zero(ft + 40, 12))
		return fmt_fail(err, "%s: footer: reserved bytes 40..51 not zero", path);
	uint64_t count = get64(ft), ct_off = get64(ft + 8), idx_off = get64(ft + 16);
	uint32_t ncls = get32(ft + 24);
	int32_t num_classes = (int32_t)get32(ft + 28);
	uint64_t end = f->file_size - FOOTER_SIZE;
	if (ct_off < HEADER_SIZE || ct_off > end)
		return fmt_fail(err, "%s: footer: class table offset: %llu, expected %d..%llu", path,
				(unsigned long long)ct_off, HEADER_SIZE, (unsigned long long)end);
	if (idx_off < ct_off || idx_off > end)
		return fmt_fail(err, "%s: footer: index offset: %llu, expected %llu..%llu (past the end?)", path,
				(unsigned long long)idx_off, (unsigned long long)ct_off, (unsigned long long)end);
	if (count > (end - idx_off) / INDEX_ENTRY || idx_off + count * INDEX_ENTRY != end)
		return fmt_fail(err, "%s: footer: record count: %llu index entries do not fill the %llu bytes between "
				     "the index offset and the footer", path, (unsigned long long)count,
				(unsigned long long)(end - idx_off));
	if (ncls > count || (uint64_t)ncls * 6 > idx_off - ct_off)
		return fmt_fail(err, "%s: footer: class count: %u, expected at most %llu (records) and room in the "
				     "class table", path, ncls, (unsigned long long)count);
	if (num_classes < 0 || (count > 0) != (num_classes > 0))
		return fmt_fail(err, "%s: footer: num_classes: %d, expected > 0 exactly when there are records", path,
				(int)num_classes);
	size_t ctsize = (size_t)(idx_off - ct_off), isize = (size_t)(count * INDEX_ENTRY);
	unsigned char *tab = malloc(ctsize + isize + 1);
	if (!tab)
		return fmt_fail(err, "%s: out of memory reading the index", path);
	if (read_at(f->fd, tab, ctsize + isize, ct_off)) {
		free(tab);
		return fmt_fail(err, "%s: read error: %s", path, strerror(errno));
	}
	int rc = -1;
	if (crc(tab, ctsize) != get32(ft + 32)) {
		fmt_fail(err, "%s: class table: checksum: found %08x, computed %08x (class table corrupted)", path,
			 get32(ft + 32), crc(tab, ctsize));
		goto out;
	}
	if (crc(tab + ctsize, isize) != get32(ft + 36)) {
		fmt_fail(err, "%s: index: checksum: found %08x, computed %08x (index corrupted)", path, get32(ft + 36),
			 crc(tab + ctsize, isize));
		goto out;
	}
	f->cls = calloc(ncls ? ncls : 1, sizeof *f->cls);
	f->idx = malloc((count ? count : 1) * sizeof *f->idx);
	if (!f->cls || !f->idx) {
		fmt_fail(err, "%s: out of memory reading the index", path);
		goto out;
	}
	const unsigned char *p = tab, *pend = tab + ctsize;
	for (uint32_t i = 0; i < ncls; i++) {
		if (pend - p < 6) {
			fmt_fail(err, "%s: class table: entry %u: runs past the table's end", path, i);
			goto out;
		}
		int32_t label = (int32_t)get32(p);
		size_t l = get16(p + 4);
		if (label < 0 || label >= num_classes || (i > 0 && label <= f->cls[i - 1].label)) {
			fmt_fail(err, "%s: class table: entry %u: label %d, expected increasing labels in 0..%d", path, i,
				 (int)label, (int)num_classes - 1);
			goto out;
		}
		if (l > MAX_NAME || (size_t)(pend - p - 6) < l) {
			fmt_fail(err, "%s: class table: entry %u: name length %zu runs past the table's end", path, i, l);
			goto out;
		}
		if (memchr(p + 6, 0, l)) {
			fmt_fail(err, "%s: class table: entry %u: name contains a NUL byte", path, i);
			goto out;
		}
		f->cls[i].label = label;
		if (!(f->cls[i].name = strndup((const char *)p + 6, l))) {
			fmt_fail(err, "%s: out of memory", path);
			goto out;
		}
		f->nclass = i + 1;
		p += 6 + l;
	}
	if (p != pend) {
		fmt_fail(err, "%s: class table: %zu bytes left after %u entries, expected none", path,
			 (size_t)(pend - p), ncls);
		goto out;
	}
	if (ncls && f->cls[ncls - 1].label != num_classes - 1) {
		fmt_fail(err, "%s: footer: num_classes: %d, expected %d (highest label in the class table + 1)", path,
			 (int)num_classes, (int)f->cls[ncls - 1].label + 1);
		goto out;
	}
	uint64_t next = HEADER_SIZE;
	for (uint64_t i = 0; i < count; i++) {
		const unsigned char *q = tab + ctsize + i * INDEX_ENTRY;
		index_entry *e = &f->idx[i];
		e->off = get64(q);
		e->size = get32(q + 8);
		e->raw_size = get32(q + 12);
		e->label = (int32_t)get32(q + 16);
		e->super_label = (int32_t)get32(q + 20);
		e->crc = get32(q + 24);
		if (e->off != next) {
			fmt_fail(err, "%s: index: record %llu: offset %llu, expected %llu (records are contiguous)", path,
				 (unsigned long long)i, (unsigned long long)e->off, (unsigned long long)next);
			goto out;
		}
		if (e->size == 0 || e->size > ct_off - e->off) {
			fmt_fail(err, "%s: index: record %llu: size %u runs past the records area (ends at %llu)", path,
				 (unsigned long long)i, e->size, (unsigned long long)ct_off);
			goto out;
		}
		if (e->raw_size < PAYLOAD_HEAD + 1) {
			fmt_fail(err, "%s: index: record %llu: raw size %u, expected at least %d", path,
				 (unsigned long long)i, e->raw_size, PAYLOAD_HEAD + 1);
			goto out;
		}
		if (e->label < 0 || e->label >= num_classes) {
			fmt_fail(err, "%s: index: record %llu: label %d, expected 0..%d", path, (unsigned long long)i,
				 (int)e->label, (int)num_classes - 1);
			goto out;
		}
		if (e->super_label < -1) {
			fmt_fail(err, "%s: index: record %llu: super label %d, expected >= -1", path,
				 (unsigned long long)i, (int)e->super_label);
			goto out;
		}
		if (minor == SHARD_MINOR && get32(q + 28) != 0) {
			fmt_fail(err, "%s: index: record %llu: reserved field not zero", path, (unsigned long long)i);
			goto out;
		}
		/* every label of the index must have a class table entry */
		uint32_t lo = 0, hi = ncls;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (f->cls[mid].label < e->label)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == ncls || f->cls[lo].label != e->label) {
			fmt_fail(err, "%s: index: record %llu: label %d has no class table entry", path,
				 (unsigned long long)i, (int)e->label);
			goto out;
		}
		next = e->off + e->size;
	}
	if (next != ct_off) {
		fmt_fail(err, "%s: index: records end at %llu, but the class table starts at %llu", path,
			 (unsigned long long)next, (unsigned long long)ct_off);
		goto out;
	}
	f->count = count;
	f->num_classes = num_classes;
	rc = 0;
out:
	free(tab);
	return rc;
}

static int class_cmp(const void *a, const void *b)
{
	const class_entry *x = a, *y = b;
	return (x->label > y->label) - (x->label < y->label);
}

/* Resolve a manifest's shard names against the manifest's folder and open each shard. */
static int open_manifest(shard_reader *r, const char *path, fmt_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fmt_fail(err, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size > MANIFEST_MAX) {
		close(fd);
		return fmt_fail(err, "%s: manifest larger than %u bytes", path, MANIFEST_MAX);
	}
	size_t len = (size_t)st.st_size;
	char *text = malloc(len + 1);
	if (!text || read_at(fd, text, len, 0)) {
		close(fd);
		free(text);
		return fmt_fail(err, "%s: read error", path);
	}
	close(fd);
	text[len] = 0;
	int rc = -1;
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
	if (len < strlen(manifest_magic) || memcmp(text, manifest_magic, strlen(manifest_magic)) != 0) {
		fmt_fail(err, "%s: line 1: expected 'AVSM 1.0' (a shard manifest)", path);
		goto out;
	}
	if (len && text[len - 1] != '\n') {
		fmt_fail(err, "%s: last line: no newline at the end (truncated?)", path);
		goto out;
	}
	if (memchr(text, 0, len)) {
		fmt_fail(err, "%s: NUL byte in the manifest, expected text", path);
		goto out;
	}
	int lines = 0;
	for (size_t i = strlen(manifest_magic); i < len; i++)
		lines += text[i] == '\n';
	if (lines == 0) {
		fmt_fail(err, "%s: no shards listed, expected at least one 'COUNT NAME' line", path);
		goto out;
	}
	r->s = calloc((size_t)lines, sizeof *r->s);
	if (!r->s) {
		fmt_fail(err, "%s: out of memory", path);
		goto out;
	}
	char *line = text + strlen(manifest_magic);
	for (int i = 0; i < lines; i++) {
		char *nl = strchr(line, '\n');
		*nl = 0;
		int lineno = i + 2;
		char *sp = strchr(line, ' ');
		char *endp;
		errno = 0;
		unsigned long long cnt = sp ? strtoull(line, &endp, 10) : 0;
		if (!sp || line[0] < '0' || line[0] > '9' || endp != sp || errno) {
			fmt_fail(err, "%s: line %d: '%.60s', expected 'COUNT NAME'", path, lineno, line);
			goto out;
		}
		const char *name = sp + 1;
		if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
			fmt_fail(err, "%s: line %d: shard name '%.60s', expected a file name in the manifest's folder", path,
				 lineno, name);
			goto out;
		}
		char *full = malloc(dirlen + strlen(name) + 1);
		if (!full) {
			fmt_fail(err, "%s: out of memory", path);
			goto out;
		}
		memcpy(full, path, dirlen);
		strcpy(full + dirlen, name);
		int bad = open_shard(&r->s[i], full, err);
		free(full);
		r->n = i + 1;
		if (bad)
			goto out;
		if (r->s[i].count != cnt) {
			fmt_fail(err, "%s: line %d: count %llu, but %s holds %llu records", path, lineno, cnt,
				 r->s[i].path, (unsigned long long)r->s[i].count);
			goto out;
		}
		line = nl + 1;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

int shard_reader_open(shard_reader **rp, const char *path, fmt_error *err)
{
	*rp = NULL;
	shard_reader *r = calloc(1, sizeof *r);
	if (!r)
		return fmt_fail(err, "%s: out of memory", path);
	unsigned char magic[8] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(r);
		return fmt_fail(err, "%s: %s", path, strerror(errno));
	}
	ssize_t got = pread(fd, magic, sizeof magic, 0);
	close(fd);
	int rc;
	if (got >= 5 && memcmp(magic, "AVSM ", 5) == 0) {
		rc = open_manifest(r, path, err);
	} else {
		r->s = calloc(1, sizeof *r->s);
		if (!r->s) {
			free(r);
			return fmt_fail(err, "%s: out of memory", path);
		}
		r->n = 1;
		rc = open_shard(&r->s[0], path, err);
	}
	if (rc) {
		shard_reader_close(r);
		return -1;
	}
	uint64_t total = 0;
	for (int i = 0; i < r->n; i++) {
		r->s[i].base = total;
		total += r->s[i].count;
		if (r->s[i].num_classes > r->num_classes)
			r->num_classes = r->s[i].num_classes;
		r->ncls += r->s[i].nclass;
	}
	r->count = total;
	/* merge the class tables; one label must have one name across all shards */
	r->cls = malloc((r->ncls ? r->ncls : 1) * sizeof *r->cls);
	if (!r->cls) {
		shard_reader_close(r);
		return fmt_fail(err, "%s: out of memory", path);
	}
	uint32_t k = 0;
	for (int i = 0; i < r->n; i++)
		for (uint32_t j = 0; j < r->s[i].nclass; j++)
			r->cls[k++] = r->s[i].cls[j];
	qsort(r->cls, k, sizeof *r->cls, class_cmp);
	uint32_t u = 0;
	for (uint32_t i = 0; i < k; i++) {
		if (u && r->cls[u - 1].label == r->cls[i].label) {
			if (strcmp(r->cls[u - 1].name, r->cls[i].name) != 0) {
				fmt_fail(err, "%s: class table: label %d is '%s' in one shard and '%s' in another", path,
					 (int)r->cls[i].label, r->cls[u - 1].name, r->cls[i].name);
				shard_reader_close(r);
				return -1;
			}
			continue;
		}
		r->cls[u++] = r->cls[i];
	}
	r->ncls = u;
	*rp = r;
	return 0;
}

void shard_reader_close(shard_reader *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->n; i++)
		shard_file_free(&r->s[i]);
	free(r->s);
	free(r->cls);
	free(r);
}

uint64_t shard_reader_count(const shard_reader *r) { return r->count; }
int32_t shard_reader_num_classes(const shard_reader *r) { return r->num_classes; }
int shard_reader_nshards(const shard_reader *r) { return r->n; }
const char *shard_reader_shard_path(const shard_reader *r, int s) { return s >= 0 && s < r->n ? r->s[s].path : NULL; }
uint32_t shard_reader_class_count(const shard_reader *r) { return r->ncls; }

const char *shard_reader_class_name(const shard_reader *r, int32_t label)
{
	uint32_t lo = 0, hi = r->ncls;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (r->cls[mid].label < label)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->ncls && r->cls[lo].label == label ? r->cls[lo].name : NULL;
}

static const shard_file *locate(const shard_reader *r, uint64_t i, uint64_t *local)
{
	int lo = 0, hi = r->n - 1;
	while (lo < hi) { /* last shard whose base <= i */
		int mid = (lo + hi + 1) / 2;
		if (r->s[mid].base <= i)
			lo = mid;
		else
			hi = mid - 1;
	}
	*local = i - r->s[lo].base;
	return &r->s[lo];
}

int32_t shard_reader_label(const shard_reader *r, uint64_t i)
{
	if (i >= r->count)
		return -1;
	uint64_t j;
	const shard_file *f = locate(r, i, &j);
	return f->idx[j].label;
}

int32_t shard_reader_super_label(const shard_reader *r, uint64_t i)
{
	if (i >= r->count)
		return -1;
	uint64_t j;
	const shard_file *f = locate(r, i, &j);
	return f->idx[j].super_label;
}

static int grow(unsigned char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t nc = need + need / 4;
	unsigned char *q = realloc(*p, nc);
	if (!q)
		return -1;
	*p = q;
	*cap = nc;
	return 0;
}

int shard_reader_get(shard_reader *r, uint64_t i, shard_buf *buf, shard_record *rec, fmt_error *err)
{
	if (i >= r->count)
		return fmt_fail(err, "%s: record %llu: out of range, the reader holds %llu records",
				r->n ? r->s[0].path : "?", (unsigned long long)i, (unsigned long long)r->count);
	uint64_t j;
	const shard_file *f = locate(r, i, &j);
	const index_entry *e = &f->idx[j];
	unsigned long long jj = (unsigned long long)j;
	if (grow(&buf->comp, &buf->comp_cap, e->size))
		return fmt_fail(err, "%s: record %llu: out of memory", f->path, jj);
	if (read_at(f->fd, buf->comp, e->size, e->off))
		return fmt_fail(err, "%s: record %llu: read error at offset %llu (file truncated?)", f->path, jj,
				(unsigned long long)e->off);
	uint32_t c = crc(buf->comp, e->size);
	if (c != e->crc)
		return fmt_fail(err, "%s: record %llu: checksum: found %08x, index says %08x (record corrupted)", f->path,
				jj, c, e->crc);
	unsigned long long fcs = ZSTD_getFrameContentSize(buf->comp, e->size);
	if (fcs != e->raw_size)
		return fmt_fail(err, "%s: record %llu: zstd frame: content size %lld, index says %u", f->path, jj,
				fcs >= ZSTD_CONTENTSIZE_ERROR ? -1LL : (long long)fcs, e->raw_size);
	/* room for NUL-terminated copies of the class name and path after the payload */
	if (grow(&buf->raw, &buf->raw_cap, (size_t)e->raw_size + 2 * MAX_NAME + 2))
		return fmt_fail(err, "%s: record %llu: out of memory", f->path, jj);
	if (!buf->zctx && !(buf->zctx = ZSTD_createDCtx()))
		return fmt_fail(err, "%s: record %llu: out of memory", f->path, jj);
	size_t n = ZSTD_decompressDCtx(buf->zctx, buf->raw, e->raw_size, buf->comp, e->size);
	if (ZSTD_isError(n) || n != e->raw_size)
		return fmt_fail(err, "%s: record %llu: zstd: %s", f->path, jj,
				ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame");
	const unsigned char *p = buf->raw;
	int32_t label = (int32_t)get32(p), super = (int32_t)get32(p + 4);
	uint32_t h = get32(p + 8), w = get32(p + 12), ch = p[16];
	size_t cl = get16(p + 18), pl = get16(p + 20);
	if (label != e->label || super != e->super_label)
		return fmt_fail(err, "%s: record %llu: label %d/%d, index says %d/%d", f->path, jj, (int)label, (int)super,
				(int)e->label, (int)e->super_label);
	if (ch != 1 && ch != 3)
		return fmt_fail(err, "%s: record %llu: channels: %u, expected 1 or 3", f->path, jj, ch);
	if (p[17] || get16(p + 22))
		return fmt_fail(err, "%s: record %llu: reserved payload bytes not zero", f->path, jj);
	if (h == 0 || w == 0 || (uint64_t)h * w * ch + PAYLOAD_HEAD + cl + pl != e->raw_size)
		return fmt_fail(err, "%s: record %llu: size %ux%ux%u with names of %zu+%zu bytes does not fill the %u "
				     "payload bytes", f->path, jj, h, w, ch, cl, pl, e->raw_size);
	const unsigned char *cls = p + PAYLOAD_HEAD, *path = cls + cl;
	const char *tname = shard_reader_class_name(r, label);
	if (!tname || strlen(tname) != cl || memcmp(tname, cls, cl) != 0)
		return fmt_fail(err, "%s: record %llu: class name '%.*s', class table says '%s'", f->path, jj, (int)cl,
				(const char *)cls, tname ? tname : "(none)");
	char *tail = (char *)buf->raw + e->raw_size;
	memcpy(tail, cls, cl);
	tail[cl] = 0;
	memcpy(tail + cl + 1, path, pl);
	tail[cl + 1 + pl] = 0;
	if (strlen(tail + cl + 1) != pl)
		return fmt_fail(err, "%s: record %llu: path contains a NUL byte", f->path, jj);
	rec->index = i;
	rec->label = label;
	rec->super_label = super;
	rec->class_name = tail;
	rec->path = tail + cl + 1;
	rec->height = h;
	rec->width = w;
	rec->channels = ch;
	rec->pixels = path + pl;
	return 0;
}

void shard_buf_free(shard_buf *buf)
{
	ZSTD_freeDCtx(buf->zctx);
	free(buf->comp);
	free(buf->raw);
	memset(buf, 0, sizeof *buf);
}

uint64_t shard_reader_verify(shard_reader *r, fmt_error *err)
{
	shard_buf b = {0};
	shard_record rec;
	fmt_error e1;
	uint64_t bad = 0;
	for (uint64_t i = 0; i < r->count; i++) {
		if (shard_reader_get(r, i, &b, &rec, &e1)) {
			if (!bad && err)
				*err = e1;
			bad++;
		}
	}
	shard_buf_free(&b);
	return bad;
}
