/* trainlog.h: the training log: JSON lines for machines, one plain line per epoch for people.
 *
 * run/train.jsonl gets one object per logged step interval ({"type":"step",...}) and one per epoch
 * ({"type":"epoch",...}), each on its own line and flushed at once, so `tail -f` and a crashed run both leave a
 * readable log. Keys: epoch, step (global iteration), losses {"final","level0","level1","level2"} for AVSL or
 * {"loss"} for the baseline (a NaN becomes null), lr {"trunk","embedder","collector"}, img_s, seconds, data_wait
 * (the share of those seconds the step waited for the loader; absent when not measured), and for an evaluated
 * epoch "recall" {"1": r1, "2": r2, ...} plus any extra metrics. The stderr summary is one line per epoch.
 */
#ifndef AVSL_TRAINLOG_H
#define AVSL_TRAINLOG_H

#include <stdint.h>
#include <stdio.h>

enum { TRAINLOG_MAX_LOSSES = 4, TRAINLOG_MAX_METRICS = 16 };

typedef struct {
	int epoch;
	int64_t step;        /* global iteration count at the end of the interval */
	int n_losses;
	const char *loss_name[TRAINLOG_MAX_LOSSES]; /* "final", "level0", ... or "loss" */
	double loss[TRAINLOG_MAX_LOSSES];           /* mean over the interval / epoch */
	double lr[3];        /* trunk, embedder, collector */
	int active[3];       /* optimiser stepped (warm-up) */
	double img_s;        /* training throughput over the interval */
	double seconds;      /* wall time of the interval (epoch records: the epoch) */
	double data_wait;    /* share of that time spent waiting for the loader's next batch (0..1); < 0: not measured */
	/* epoch records with an evaluation: */
	int n_recall;
	int recall_k[TRAINLOG_MAX_METRICS];
	double recall[TRAINLOG_MAX_METRICS]; /* fractions in [0, 1] */
	int n_metrics;
	const char *metric_name[TRAINLOG_MAX_METRICS]; /* "map_at_r", "r_precision", ... */
	double metric[TRAINLOG_MAX_METRICS];
	int best;            /* this evaluation is the best so far */
} trainlog_entry;

typedef struct {
	FILE *fp;            /* the JSON lines file, NULL when not logging to a file */
	int own;             /* fp was opened by trainlog_open */
} trainlog;

/* Open (append to) path; returns 0 or -1 with errno set. path NULL: no file. */
int trainlog_open(trainlog *t, const char *path);
/* Log to an already open stream (tests, stdout). */
void trainlog_attach(trainlog *t, FILE *fp);
void trainlog_close(trainlog *t);

/* Write a {"type":"step"} or {"type":"epoch"} line (plus "\n") and flush. Returns 0 or -1 on a write error. */
int trainlog_step(trainlog *t, const trainlog_entry *e);
int trainlog_epoch(trainlog *t, const trainlog_entry *e);
/* Format one JSON object (no newline) into buf; returns the length it needs (like snprintf). */
int trainlog_format(char *buf, size_t len, const char *type, const trainlog_entry *e);

/* The human one-liner, e.g.
 *   "epoch 12/61  loss 1.2345 (0.41 0.52 0.33 0.12)  lr 1e-05 5.5e-04 1.1e-04  412.3 img/s  83.1 s  R@1 70.12 R@2 80.30 *"
 * ('*' marks a new best; "warm-up" replaces a group's lr while it does not step). */
int trainlog_summary(char *buf, size_t len, int epochs, const trainlog_entry *e);
/* trainlog_summary to fp followed by "\n". */
void trainlog_print_summary(FILE *fp, int epochs, const trainlog_entry *e);

#endif
