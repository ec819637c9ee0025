/* shard.c: the .avs and .avsm reader; the layout is specified in shard.md (normative), the writer is
 * shard_write.c.
 *
 * A shard is opened by reading 32 bytes at the start and 64 at the end, then the class table and index the footer
 * points at; every field is validated with its own message. Records are read with pread() on a shared
 * descriptor, so any number of threads can read one reader at once, each with its own shard_buf.
 */
#define _GNU_SOURCE
#include "shard.h"
#include "shard_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

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
	if (p[17] > SHARD_FILTER_GRADIENT)
		return fmt_fail(err, "%s: record %llu: filter: %u, expected 0 (none) or 1 (gradient)", f->path, jj, p[17]);
	if (get16(p + 22))
		return fmt_fail(err, "%s: record %llu: reserved payload bytes 22..23 not zero", f->path, jj);
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
	if (p[17] == SHARD_FILTER_GRADIENT)
		filter_inverse(buf->raw + (path + pl - p), h, w, ch);
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
