/* datasets.c: see datasets.h. */
#define _GNU_SOURCE
#include "datasets.h"
#include "datasets_cars.h"
#include "cli.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *layout_names[] = {"auto", "imagefolder", "cub", "sop", "cars", "idx"};

int ds_layout_parse(const char *s)
{
	for (int i = 0; i < (int)(sizeof layout_names / sizeof *layout_names); i++)
		if (strcmp(s, layout_names[i]) == 0)
			return i;
	return -1;
}

const char *ds_layout_name(int layout) { return layout_names[layout]; }

static int exists(const char *root, const char *name, int want_dir)
{
	char *p = xasprintf("%s/%s", root, name);
	struct stat st;
	int ok = stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
	free(p);
	return ok;
}

/* IDX file of a split, with or without .gz; NULL when neither exists. */
static char *idx_file(const char *root, const char *prefix, const char *kind)
{
	char *p = xasprintf("%s/%s-%s-ubyte", root, prefix, kind);
	struct stat st;
	if (stat(p, &st) == 0)
		return p;
	free(p);
	p = xasprintf("%s/%s-%s-ubyte.gz", root, prefix, kind);
	if (stat(p, &st) == 0)
		return p;
	free(p);
	return NULL;
}

int ds_detect(const char *root)
{
	struct stat st;
	if (stat(root, &st) != 0)
		die("%s: %s", root, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		die("%s: not a directory (the dataset root)", root);
	if (exists(root, "Info_Files/Ebay_train.txt", 0) || exists(root, "Info_Files/Ebay_test.txt", 0))
		return DS_SOP;
	if (exists(root, "images.txt", 0) && exists(root, "image_class_labels.txt", 0))
		return DS_CUB;
	if (ds_cars_detect(root))
		return DS_CARS;
	char *f = idx_file(root, "train", "images-idx3");
	if (!f)
		f = idx_file(root, "t10k", "images-idx3");
	if (f) {
		free(f);
		return DS_IDX;
	}
	if (exists(root, "train", 1) || exists(root, "test", 1))
		return DS_IMAGEFOLDER;
	die("%s: cannot tell the layout: found none of train/ test/ (imagefolder), images.txt + "
	    "image_class_labels.txt (cub), Info_Files/Ebay_train.txt (sop), cars_annos.mat (cars), "
	    "train-images-idx3-ubyte[.gz] (idx); use --layout", root);
}

/* ---- helpers --------------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in dir; dirs_only selects folders, otherwise regular files and anything with an image's name (a
 * dangling symlink, a FIFO, a folder called x.jpg: prep reports each as skipped, by name, instead of losing it
 * silently). Hidden entries are skipped. NULL (errno set) when dir cannot be opened and may_fail. */
static int is_image_name(const char *name);
static char **list_dir_or_null(const char *dir, int dirs_only, size_t *n, int may_fail)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (may_fail) {
			*n = (size_t)-1;
			return NULL;
		}
		die("%s: %s", dir, strerror(errno));
	}
	char **names = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		int ok = stat(p, &st) == 0 && (dirs_only ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
		if (!dirs_only && !ok && is_image_name(e->d_name))
			ok = 1; /* not a readable regular file: kept, so it is counted and named as skipped */
		free(p);
		if (!ok)
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 64;
			names = xrealloc_array(names, cap, sizeof *names);
		}
		names[cnt++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, cnt, sizeof *names, cmp_str);
	*n = cnt;
	return names;
}

static char **list_dir(const char *dir, int dirs_only, size_t *n) { return list_dir_or_null(dir, dirs_only, n, 0); }

/* torchvision's IMG_EXTENSIONS, compared without case */
static int is_image_name(const char *name)
{
	static const char *ext[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif"};
	const char *dot = strrchr(name, '.');
	if (!dot)
		return 0;
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
		if (strcasecmp(dot, ext[i]) == 0)
			return 1;
	return 0;
}

static int keep(const ds_filter *f, int32_t label)
{
	return !f || !f->keep || (label >= 0 && label < f->n && f->keep[label]);
}

static ds_item *push(ds_split *s, size_t *cap)
{
	if (s->n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		s->items = xrealloc_array(s->items, *cap, sizeof *s->items);
	}
	ds_item *it = &s->items[s->n++];
	memset(it, 0, sizeof *it);
	it->super_label = -1;
	return it;
}

static const char *pool_add(ds_split *s, const char *name, size_t *cap)
{
	if (s->nclass_names && strcmp(s->class_names[s->nclass_names - 1], name) == 0)
		return s->class_names[s->nclass_names - 1];
	if (s->nclass_names == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		s->class_names = xrealloc_array(s->class_names, *cap, sizeof *s->class_names);
	}
	return s->class_names[s->nclass_names++] = xstrdup(name);
}

/* Read a text list; returns lines split in place (the buffer is kept in *buf). */
static char **read_lines(const char *path, char **buf, size_t *nlines)
{
	size_t len;
	unsigned char *b = read_whole_file(path, &len);
	b = xrealloc(b, len + 1);
	b[len] = 0;
	if (memchr(b, 0, len))
		die("%s: NUL byte, expected a text file", path);
	size_t cap = 1024, n = 0;
	char **lines = xmalloc_array(cap, sizeof *lines);
	char *p = (char *)b;
	while (*p) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		size_t l = strlen(p);
		if (l && p[l - 1] == '\r')
			p[l - 1] = 0;
		if (n == cap)
			lines = xrealloc_array(lines, cap *= 2, sizeof *lines);
		lines[n++] = p;
		if (!nl)
			break;
		p = nl + 1;
	}
	*buf = (char *)b;
	*nlines = n;
	return lines;
}

static int blank(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return *s == 0;
}

/* One decimal field; advances *p past it and the following blanks. */
static int field_long(char **p, long min, long max, long *out)
{
	char *s = *p, *end;
	if (!isdigit((unsigned char)*s) && *s != '-')
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || (*end && !isspace((unsigned char)*end)) || v < min || v > max)
		return -1;
	while (*end && isspace((unsigned char)*end))
		end++;
	*p = end;
	*out = v;
	return 0;
}

/* ---- ImageFolder ------------------------------------------------------------------------------------------ */

static void load_imagefolder(const char *root, const char *split, const ds_filter *f, int strict, ds_split *s)
{
	char *dir = xasprintf("%s/%s", root, split);
	size_t ncls, cap = 0, pcap = 0;
	char **cls = list_dir(dir, 1, &ncls);
	if (ncls == 0)
		die("%s: no class folders", dir);
	for (size_t c = 0; c < ncls; c++) {
		if (!keep(f, (int32_t)c))
			continue;
		char *cdir = xasprintf("%s/%s", dir, cls[c]);
		size_t nf;
		char **files = list_dir_or_null(cdir, 0, &nf, !strict);
		if (!files && nf == (size_t)-1) {
			/* an unreadable class folder is named and skipped like an unreadable file (--strict: an error) */
			warn("%s: %s; class folder skipped", cdir, strerror(errno));
			s->skipped++;
			free(cdir);
			continue;
		}
		const char *cname = pool_add(s, cls[c], &pcap);
		for (size_t i = 0; i < nf; i++) {
			if (is_image_name(files[i])) {
				ds_item *it = push(s, &cap);
				it->file = xasprintf("%s/%s", cdir, files[i]);
				it->rel = xasprintf("%s/%s/%s", split, cls[c], files[i]);
				it->label = (int32_t)c;
				it->class_name = cname;
			}
			free(files[i]);
		}
		free(files);
		free(cdir);
	}
	for (size_t c = 0; c < ncls; c++)
		free(cls[c]);
	free(cls);
	free(dir);
}

/* ---- CUB-200-2011 (raw) ---------------------------------------------------------------------------------- */

static int cmp_item(const void *a, const void *b)
{
	const ds_item *x = a, *y = b;
	if (x->label != y->label)
		return x->label < y->label ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

static void load_cub(const char *root, const char *split, const ds_filter *f, ds_split *s)
{
	char *ipath = xasprintf("%s/images.txt", root), *lpath = xasprintf("%s/image_class_labels.txt", root);
	char *ibuf, *lbuf;
	size_t ni, nl;
	char **il = read_lines(ipath, &ibuf, &ni), **ll = read_lines(lpath, &lbuf, &nl);
	long *cls = xcalloc(ni + 1, sizeof *cls);
	for (size_t k = 0; k < nl; k++) {
		char *p = ll[k];
		long id, c;
		if (blank(p))
			continue;
		if (field_long(&p, 1, (long)ni, &id) || field_long(&p, 1, 200, &c) || *p)
			die("%s:%zu: '%.60s', expected 'IMAGE_ID CLASS_ID' with ids 1..%zu and classes 1..200", lpath, k + 1,
			    ll[k], ni);
		cls[id] = c;
	}
	int test = strcmp(split, "test") == 0;
	size_t cap = 0, pcap = 0;
	for (size_t k = 0; k < ni; k++) {
		char *p = il[k];
		long id;
		if (blank(p))
			continue;
		if (field_long(&p, 1, (long)ni, &id) || !*p || strchr(p, ' '))
			die("%s:%zu: '%.60s', expected 'IMAGE_ID PATH'", ipath, k + 1, il[k]);
		if (!cls[id])
			die("%s: image %ld: no line for it in %s", ipath, id, lpath);
		long c = cls[id];
		if ((c > 100) != test)
			continue;
		int32_t label = (int32_t)(test ? c - 101 : c - 1);
		if (!keep(f, label))
			continue;
		ds_item *it = push(s, &cap);
		it->file = xasprintf("%s/images/%s", root, p);
		it->rel = xasprintf("images/%s", p);
		it->label = label;
		it->super_label = -1;
		char *slash = strchr(p, '/');
		char *cname = slash ? strndup(p, (size_t)(slash - p)) : xasprintf("%ld", c);
		it->class_name = cname; /* fixed below, after sorting */
	}
	/* the image-folder order of the official reader: class folders, then files sorted */
	qsort(s->items, s->n, sizeof *s->items, cmp_item);
	for (size_t i = 0; i < s->n; i++) {
		char *tmp = (char *)s->items[i].class_name;
		s->items[i].class_name = pool_add(s, tmp, &pcap);
		free(tmp);
	}
	free(cls);
	free(il);
	free(ll);
	free(ibuf);
	free(lbuf);
	free(ipath);
	free(lpath);
}

/* ---- Stanford Online Products ---------------------------------------------------------------------------- */

static void load_sop(const char *root, const char *split, const ds_filter *f, ds_split *s)
{
	char *path = xasprintf("%s/Info_Files/Ebay_%s.txt", root, split);
	char *buf;
	size_t n, cap = 0, pcap = 0;
	char **lines = read_lines(path, &buf, &n);
	if (n == 0 || strncmp(lines[0], "image_id", 8) != 0)
		die("%s:1: expected the header 'image_id class_id super_class_id path'", path);
	for (size_t k = 1; k < n; k++) {
		char *p = lines[k];
		long id, c, sc;
		if (blank(p))
			continue;
		if (field_long(&p, 1, LONG_MAX, &id) || field_long(&p, 1, INT32_MAX, &c) ||
		    field_long(&p, 1, INT32_MAX, &sc) || !*p || strchr(p, ' '))
			die("%s:%zu: '%.60s', expected 'IMAGE_ID CLASS_ID SUPER_CLASS_ID PATH'", path, k + 1, lines[k]);
		int32_t label = (int32_t)(c - 1); /* official reader: class_id - 1 (test: 11318..22633) */
		if (!keep(f, label))
			continue;
		ds_item *it = push(s, &cap);
		it->file = xasprintf("%s/images/%s", root, p);
		it->rel = xasprintf("images/%s", p);
		it->label = label;
		it->super_label = (int32_t)(sc - 1);
		char name[32];
		snprintf(name, sizeof name, "%ld", c);
		it->class_name = pool_add(s, name, &pcap);
	}
	free(lines);
	free(buf);
	free(path);
}

/* ---- IDX (MNIST, Fashion-MNIST) ----------------------------------------------------------------------- */

static unsigned char *read_gz(const char *path, size_t *len)
{
	gzFile g = gzopen(path, "rb"); /* reads plain files too */
	if (!g)
		die("%s: %s", path, strerror(errno));
	size_t cap = 1 << 20, n = 0;
	unsigned char *b = xmalloc(cap);
	for (;;) {
		if (n == cap)
			b = xrealloc(b, cap *= 2);
		int got = gzread(g, b + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
		if (got < 0) {
			int e;
			die("%s: %s", path, gzerror(g, &e));
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	gzclose(g);
	*len = n;
	return b;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int ds_idx_check(const unsigned char *img, size_t il, const char *ip, const unsigned char *lab, size_t ll,
		 const char *lp, uint32_t *n, uint32_t *h, uint32_t *w, char *why, size_t why_len)
{
	if (il < 16 || be32(img) != 0x803) {
		snprintf(why, why_len, "%s: magic: %08x, expected 00000803 (IDX unsigned bytes, 3 dimensions)", ip,
			 il < 4 ? 0 : be32(img));
		return -1;
	}
	if (ll < 8 || be32(lab) != 0x801) {
		snprintf(why, why_len, "%s: magic: %08x, expected 00000801 (IDX unsigned bytes, 1 dimension)", lp,
			 ll < 4 ? 0 : be32(lab));
		return -1;
	}
	*n = be32(img + 4), *h = be32(img + 8), *w = be32(img + 12);
	if (*h == 0 || *w == 0 || *h > 4096 || *w > 4096 || (uint64_t)*n * *h * *w != il - 16) {
		snprintf(why, why_len, "%s: %u images of %ux%u do not fill the file's %zu bytes", ip, *n, *h, *w, il - 16);
		return -1;
	}
	if (be32(lab + 4) != *n || ll - 8 != *n) {
		snprintf(why, why_len, "%s: %u labels in %zu bytes, expected %u (as many as images in %s)", lp,
			 be32(lab + 4), ll - 8, *n, ip);
		return -1;
	}
	return 0;
}

static void load_idx(const char *root, const char *split, const ds_filter *f, ds_split *s)
{
	const char *prefix = strcmp(split, "test") == 0 ? "t10k" : "train";
	char *ip = idx_file(root, prefix, "images-idx3"), *lp = idx_file(root, prefix, "labels-idx1");
	if (!ip || !lp)
		die("%s: %s-images-idx3-ubyte[.gz] and %s-labels-idx1-ubyte[.gz] are needed for the %s split", root, prefix,
		    prefix, split);
	size_t il, ll;
	unsigned char *img = read_gz(ip, &il), *lab = read_gz(lp, &ll);
	uint32_t n, h, w;
	char why[512];
	if (ds_idx_check(img, il, ip, lab, ll, lp, &n, &h, &w, why, sizeof why))
		die("%s", why);
	const char *base = strrchr(ip, '/') + 1;
	size_t cap = 0, pcap = 0;
	char *names[256] = {0};
	for (uint32_t i = 0; i < n; i++) {
		int32_t label = lab[8 + i];
		if (!keep(f, label))
			continue;
		ds_item *it = push(s, &cap);
		it->rel = xasprintf("%s#%u", base, i);
		it->label = label;
		it->px = img + 16 + (size_t)i * h * w;
		it->h = (int)h;
		it->w = (int)w;
		if (!names[label]) {
			char nm[8];
			snprintf(nm, sizeof nm, "%d", label);
			names[label] = (char *)pool_add(s, nm, &pcap);
		}
		it->class_name = names[label];
	}
	s->blob = img;
	free(lab);
	free(ip);
	free(lp);
}

void ds_load(const char *root, int layout, const char *split, const ds_filter *f, int strict, ds_split *out)
{
	memset(out, 0, sizeof *out);
	out->name = split;
	if (layout == DS_AUTO)
		layout = ds_detect(root);
	switch (layout) {
	case DS_IMAGEFOLDER:
		load_imagefolder(root, split, f, strict, out);
		break;
	case DS_CUB:
		load_cub(root, split, f, out);
		break;
	case DS_SOP:
		load_sop(root, split, f, out);
		break;
	case DS_IDX:
		load_idx(root, split, f, out);
		break;
	case DS_CARS:
		ds_load_cars(root, split, f, out);
		break;
	default:
		die("%s: unknown layout", root);
	}
}

void ds_split_free(ds_split *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].file);
		free(s->items[i].rel);
	}
	for (size_t i = 0; i < s->nclass_names; i++)
		free(s->class_names[i]);
	free(s->class_names);
	free(s->items);
	free(s->blob);
	memset(s, 0, sizeof *s);
}

size_t ds_split_classes(const ds_split *s)
{
	int32_t max = -1;
	for (size_t i = 0; i < s->n; i++)
		if (s->items[i].label > max)
			max = s->items[i].label;
	if (max < 0)
		return 0;
	uint8_t *seen = xcalloc((size_t)max + 1, 1);
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++)
		if (!seen[s->items[i].label]) {
			seen[s->items[i].label] = 1;
			k++;
		}
	free(seen);
	return k;
}

int ds_filter_parse(const char *s, int32_t max, ds_filter *f, const char **why)
{
	f->n = max + 1;
	f->keep = xcalloc((size_t)f->n, 1);
	const char *p = s;
	if (!*p)
		goto bad;
	while (*p) {
		char *end;
		if (!isdigit((unsigned char)*p))
			goto bad;
		long a = strtol(p, &end, 10), b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				goto bad;
			b = strtol(p, &end, 10);
			p = end;
		}
		if (a > b || b > max) {
			*why = "range reversed or label out of range";
			ds_filter_free(f);
			return -1;
		}
		for (long i = a; i <= b; i++)
			f->keep[i] = 1;
		if (*p == ',') {
			p++;
			if (!*p)
				goto bad;
		} else if (*p) {
			goto bad;
		}
	}
	return 0;
bad:
	*why = "expected labels and ranges like 0-4 or 0,2,5-7";
	ds_filter_free(f);
	return -1;
}

void ds_filter_free(ds_filter *f)
{
	free(f->keep);
	f->keep = NULL;
	f->n = 0;
}

void ds_split_limit_per_class(ds_split *s, size_t per_class)
{
	/* Count per label in dataset order; labels are small non-negative integers, so a growable table suffices. */
	size_t cap = 0, *seen = NULL, kept = 0;
	for (size_t i = 0; i < s->n; i++) {
		ds_item *it = &s->items[i];
		size_t lab = it->label < 0 ? 0 : (size_t)it->label;
		if (lab >= cap) {
			size_t ncap = cap ? cap : 64;
			while (ncap <= lab)
				ncap *= 2;
			seen = xrealloc_array(seen, ncap, sizeof *seen);
			memset(seen + cap, 0, (ncap - cap) * sizeof *seen);
			cap = ncap;
		}
		if (seen[lab]++ < per_class) {
			s->items[kept++] = *it;
		} else {
			free(it->file);
			free(it->rel);
		}
	}
	s->n = kept;
	free(seen);
}
