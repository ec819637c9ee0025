/* datasets_cars.c: Cars196 as distributed (avsl-method.md §6, §11-P16), read with matfile.h.
 *
 * ROOT/cars_annos.mat (the "all images" release read by gedml 0.2.2): variable "annotations", a 1 x 16185 struct
 * array with fields relative_im_path ("car_ims/000001.jpg"), bbox_x1..bbox_y2, class (1..196) and test (the original
 * 50/50 split flag, ignored: the metric-learning split is by class); optional "class_names", a cell of 196 strings.
 * Items follow the file's order; classes 1-98 are the train split, 99-196 the test split; label = class - 1 (train
 * 0..97, test 98..195), as the official reader numbers them.
 *
 * The devkit release (cars_train/, cars_test/, devkit/cars_train_annos.mat, and cars_test_annos_withlabels.mat in
 * devkit/ or ROOT/, fields fname and class; devkit/cars_meta.mat holds class_names) is read the same way: the train
 * annotations then the test annotations, images under cars_train/ and cars_test/, split by class as above. */
#include "datasets_cars.h"
#include "matfile.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { CARS_CLASSES = 196, CARS_TRAIN_CLASSES = 98 };

static int is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int f_keep(const ds_filter *f, int32_t label)
{
	return !f || !f->keep || (label >= 0 && label < f->n && f->keep[label]);
}

static void read_mat(const char *path, mat_file *m)
{
	char err[512];
	if (mat_read(path, m, err, sizeof err))
		die("%s", err);
}

/* The class names (cell of strings), or NULL when the variable is absent. Malformed: dies. */
static const mat_array *class_names(const mat_file *m, const char *path)
{
	const mat_array *cn = mat_var(m, "class_names");
	if (!cn)
		return NULL;
	if (cn->mx_class != MX_CELL)
		die("%s: class_names: not a cell array", path);
	for (size_t i = 0; i < cn->n; i++)
		if (cn->sub[i]->mx_class != MX_CHAR)
			die("%s: class_names{%zu}: not a string", path, i + 1);
	return cn;
}

typedef struct {
	ds_split *s;
	const ds_filter *f;
	int test;                                 /* the split wanted: classes above 98 */
	size_t cap;
	const char *pool[CARS_CLASSES + 1];       /* class -> its name in the split's pool */
	const mat_array *names;                   /* class_names, or NULL */
} cars_ctx;

static const char *class_name(cars_ctx *x, int cls)
{
	if (x->pool[cls])
		return x->pool[cls];
	ds_split *s = x->s;
	s->class_names = xrealloc_array(s->class_names, s->nclass_names + 1, sizeof *s->class_names);
	char *nm = x->names && (size_t)cls <= x->names->n ? xstrdup(x->names->sub[cls - 1]->str) : xasprintf("%d", cls);
	s->class_names[s->nclass_names++] = nm;
	return x->pool[cls] = nm;
}

/* Items of one annotation struct array: image path field `pathf` (joined under `dir`, may be "") and class. */
static void add_annotations(cars_ctx *x, const char *root, const char *path, const mat_file *m, const char *pathf,
			    const char *dir)
{
	const mat_array *a = mat_var(m, "annotations");
	if (!a)
		die("%s: no variable 'annotations'", path);
	if (a->mx_class != MX_STRUCT)
		die("%s: annotations: not a struct array", path);
	for (size_t i = 0; i < a->n; i++) {
		const mat_array *p = mat_field(a, i, pathf), *c = mat_field(a, i, "class");
		if (!p || !c)
			die("%s: annotations(%zu): no field '%s'", path, i + 1, p ? "class" : pathf);
		if (p->mx_class != MX_CHAR || !p->str || !p->str[0])
			die("%s: annotations(%zu).%s: not a non-empty string", path, i + 1, pathf);
		if (!c->num || c->n != 1 || c->num[0] != floor(c->num[0]) || c->num[0] < 1 || c->num[0] > CARS_CLASSES)
			die("%s: annotations(%zu).class: not an integer in 1..%d", path, i + 1, CARS_CLASSES);
		int cls = (int)c->num[0];
		if ((cls > CARS_TRAIN_CLASSES) != x->test)
			continue;
		int32_t label = cls - 1;
		if (f_keep(x->f, label) == 0)
			continue;
		if (x->s->n == x->cap) {
			x->cap = x->cap ? 2 * x->cap : 1024;
			x->s->items = xrealloc_array(x->s->items, x->cap, sizeof *x->s->items);
		}
		ds_item *it = &x->s->items[x->s->n++];
		memset(it, 0, sizeof *it);
		it->rel = dir[0] ? xasprintf("%s/%s", dir, p->str) : xstrdup(p->str);
		it->file = xasprintf("%s/%s", root, it->rel);
		it->label = label;
		it->super_label = -1;
		it->class_name = class_name(x, cls);
	}
}

int ds_cars_detect(const char *root)
{
	char *a = xasprintf("%s/cars_annos.mat", root), *b = xasprintf("%s/devkit/cars_train_annos.mat", root);
	int r = is_file(a) || is_file(b);
	free(a), free(b);
	return r;
}

void ds_load_cars(const char *root, const char *split, const ds_filter *f, ds_split *s)
{
	cars_ctx x = {.s = s, .f = f, .test = strcmp(split, "test") == 0};
	char *all = xasprintf("%s/cars_annos.mat", root);
	if (is_file(all)) {
		mat_file m;
		read_mat(all, &m);
		x.names = class_names(&m, all);
		add_annotations(&x, root, all, &m, "relative_im_path", "");
		mat_free(&m);
		free(all);
		return;
	}
	free(all);
	char *tr = xasprintf("%s/devkit/cars_train_annos.mat", root);
	char *te = xasprintf("%s/devkit/cars_test_annos_withlabels.mat", root);
	if (!is_file(te)) {
		free(te);
		te = xasprintf("%s/cars_test_annos_withlabels.mat", root);
	}
	if (!is_file(tr) || !is_file(te))
		die("%s: neither cars_annos.mat nor devkit/cars_train_annos.mat with cars_test_annos_withlabels.mat (the "
		    "test labels ship separately; devkit/cars_test_annos.mat has none)", root);
	char *meta = xasprintf("%s/devkit/cars_meta.mat", root);
	mat_file mm = {0}, m;
	if (is_file(meta)) {
		read_mat(meta, &mm);
		x.names = class_names(&mm, meta);
	}
	read_mat(tr, &m);
	add_annotations(&x, root, tr, &m, "fname", "cars_train");
	mat_free(&m);
	read_mat(te, &m);
	add_annotations(&x, root, te, &m, "fname", "cars_test");
	mat_free(&m);
	mat_free(&mm);
	free(meta), free(tr), free(te);
}
