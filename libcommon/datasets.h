/* datasets.h: walkers for the on-disk layouts avsl-prep reads (see man/avsl-prep.1 and avsl-method.md §6).
 *
 * A walker turns a dataset root into an ordered list of items (file or in-memory pixels, label, class name) for
 * one split. Order and labels follow the official readers, so a shard's record i is the reference's sample i.
 * Errors in list files die naming the file and the line (this is libcommon: tools call it).
 */
#ifndef AVSL_DATASETS_H
#define AVSL_DATASETS_H

#include <stddef.h>
#include <stdint.h>

enum ds_layout { DS_AUTO = 0, DS_IMAGEFOLDER, DS_CUB, DS_SOP, DS_CARS, DS_IDX };

typedef struct {
	char *file;           /* path to read (root joined), NULL for in-memory pixels */
	char *rel;            /* source path as recorded: relative to the root ("train/cat/1.jpg", "file#i") */
	int32_t label, super_label;
	const char *class_name; /* borrowed from the split's class name pool */
	const uint8_t *px;    /* IDX only: (h, w) gray pixels inside the split's blob */
	int h, w;
} ds_item;

typedef struct {
	const char *name;     /* "train" or "test" */
	ds_item *items;
	size_t n;
	char **class_names;   /* pool, freed with the split */
	size_t nclass_names;
	uint8_t *blob;        /* IDX pixels */
	size_t skipped;       /* paths skipped while listing (unreadable class folders), each named in a warning */
} ds_split;

/* Which labels to keep: NULL keeps all. */
typedef struct {
	uint8_t *keep; /* keep[label] for label < n */
	int32_t n;
} ds_filter;

/* "imagefolder", "cub", ... -> layout; -1 when unknown. */
int ds_layout_parse(const char *s);
const char *ds_layout_name(int layout);
/* Guess the layout of root from the files it holds; dies with the list of what was looked for. */
int ds_detect(const char *root);
/* Load split "train" or "test" of root. Dies on unreadable lists or malformed lines (FILE:LINE: what). An
 * unreadable class folder is warned about, counted in out->skipped and skipped, unless strict (then it dies). */
void ds_load(const char *root, int layout, const char *split, const ds_filter *f, int strict, ds_split *out);
/* Check an IDX image file (img[il], named ip) and its label file (lab[ll], named lp) as read into memory: magics,
 * n images of h x w filling the file, n one-byte labels. Returns 0 with n, h, w, or -1 with the message in why. */
int ds_idx_check(const unsigned char *img, size_t il, const char *ip, const unsigned char *lab, size_t ll,
		 const char *lp, uint32_t *n, uint32_t *h, uint32_t *w, char *why, size_t why_len);
void ds_split_free(ds_split *s);
/* Parse a class list "0-4" or "0,2,5-7" (labels 0..max) into a filter; returns -1 with a reason on error. */
int ds_filter_parse(const char *s, int32_t max, ds_filter *f, const char **why);
void ds_filter_free(ds_filter *f);
/* Keep only the first per_class items of every label (dataset order), e.g. a quick subset for a demo. */
void ds_split_limit_per_class(ds_split *s, size_t per_class);
/* Number of distinct labels among the items. */
size_t ds_split_classes(const ds_split *s);

#endif
