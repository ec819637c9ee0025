/* train_config_impl.h: internals shared by train_config.c (parser) and train_config_json.c (JSON). Not public. */
#ifndef AVSL_TRAIN_CONFIG_IMPL_H
#define AVSL_TRAIN_CONFIG_IMPL_H

#include <stddef.h>

#include "train_config.h"

typedef enum {
	T_STR,    /* char *, one word */
	T_INT,    /* int, range checked */
	T_U64,    /* uint64_t */
	T_DBL,    /* double, range checked */
	T_FLAG,   /* int set to 1 ("--no-NAME" sets 0) */
	T_INTS,   /* int[], nargs='+', count in cnt_off */
	T_DBLS,   /* double[], nargs='+' */
	T_FLTS,   /* float[], nargs='+' */
	T_SPECIAL /* handled by name in apply_special */
} opt_type;

enum { O_NOSAVE = 1, O_NOARG = 2 };

typedef struct {
	const char *name;  /* canonical, underscores */
	opt_type type;
	size_t off;
	size_t cnt_off;    /* T_INTS/T_DBLS/T_FLTS: int count field, or (size_t)-1 for a fixed count */
	int min_n, max_n;  /* list lengths */
	double lo, hi;     /* value range */
	int flags;
} opt_def;

typedef struct {
	char *buf;
	size_t len;
} errbuf;

#define NOCNT ((size_t)-1)

extern const opt_def tc_opts[];
extern const int tc_nopts;
extern const char *const tc_group_names[PG_COUNT];
extern const char *const tc_split_names[2];

/* Write a message into e (if any) and return -1. */
int tc_fail(errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Option by canonical name (underscores), or NULL. */
const opt_def *tc_find_opt(const char *name);
/* Apply option o with its n value words (negate: "--no-NAME" of a yes/no flag); *status gets TC_HELP/TC_VERSION. */
int tc_apply(errbuf *e, train_config *c, const opt_def *o, char **words, int n, int negate, int *status);

#endif
