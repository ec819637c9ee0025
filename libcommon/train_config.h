/* train_config.h: avsl-train's configuration: every flag of the official AVSL sample commands (avsl-method.md §8)
 * plus avsl's own, parsed from argv (tests call train_config_parse directly) and saved as JSON in the checkpoint's
 * "avsl.config" metadata (train_config_to_json / train_config_from_json, for --resume).
 *
 * Flag spelling: "--batch_size" and "--batch-size" are the same flag (after the leading "--", '-' and '_' are
 * interchangeable); "--flag=value" works for single values. Multi-value flags (--feature_dim_list, --warm_up_list,
 * --k_list, --eval_exclude, --splits_to_eval, --device, --mean, --std) take every following word that is not an
 * option, like Python argparse nargs='+'; numbers may also be comma-separated ("--k_list 1,2,4,8").
 *
 * Defaults: with no flags the configuration is the official CUB-200 AVSL command (samples_avsl.sh); flags that
 * command does not pass take the official defaults (interval 1, k auto, k_list 1 2 4 8, BN frozen, one test
 * slice) and avsl's own (epochs 61, patience 15, seed 0).
 */
#ifndef AVSL_TRAIN_CONFIG_H
#define AVSL_TRAIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "loader.h"
#include "optim.h"
#include "params.h"

enum { TC_MAX_LIST = 16, TC_WORD_LEN = 32, TC_MAX_GPUS = 16 };

typedef enum { SETTING_AVSL = 0, SETTING_PROXY_ANCHOR = 1 } train_setting;

/* Bits of train_config.splits_to_eval. */
enum { SPLIT_TEST = 1, SPLIT_TRAIN = 2 };

typedef struct {
	/* ---- official flags (avsl-method.md §8.1) ---- */
	char *data_path;          /* training shard/manifest, or a folder holding train.avsm|avs and test.avsm|avs */
	char *save_path, *save_name; /* run directory = save_path/save_name unless --out */
	int delete_old;           /* an existing run directory may be replaced */
	char device[64];          /* as given, words joined by ',': "auto", "cpu", "cuda:1", "0", "0,1" */
	int device_given;         /* -d/--device appeared (else $AVSL_DEVICE decides: train_config_device) */
	int precision;            /* --precision, AVSL_PRECISION_* (device.h); -1: not given. Not stored */
	int gpu_ids[TC_MAX_GPUS], n_gpu_ids; /* from numeric --device words */
	int batch_size;           /* 180 */
	int test_batch_size;      /* 180 (eval batch; no effect on results) */
	train_setting setting;    /* --setting avsl_proxyanchor | proxy_anchor */
	char *dataset;            /* cub200 / cars196 / online_products / anything: recorded */
	char *model;              /* resnet50 (also resnet18, resnet34, cifar_resnet18) */
	int feature_dim_list[3];  /* 512 1024 2048: channels of the three embedder inputs */
	int embeddings_dim;       /* D = 512 */
	double avsl_m;            /* link EMA momentum 0.5 */
	int topk_corr;            /* 128 */
	double prob_gamma;        /* 10 */
	double index_p;           /* 2 */
	double pa_pos_margin, pa_neg_margin, pa_alpha;                   /* 1.8 2.2 16: level losses */
	double final_pa_pos_margin, final_pa_neg_margin, final_pa_alpha; /* 1.8 2.2 16: final loss */
	double loss_weight[3];    /* --loss0_weight..--loss2_weight: 0.5 1 0.5 (CUB command) */
	int num_classes;          /* K; 0: from the training data */
	int use_proxy;            /* 1 (--no-use-proxy turns it off) */
	double wd;                /* 1e-4, all groups */
	double gamma;             /* StepLR factor 0.5 */
	int step;                 /* StepLR step (epochs) 10 */
	double lr_trunk, lr_embedder, lr_collector; /* 1e-5 5.5e-4 1.1e-4 */
	int warm_up;              /* warm-up epochs 5 */
	unsigned warm_up_groups;  /* bit (1 << param_group) per optimiser stepping during warm-up: embedder|collector */
	unsigned splits_to_eval;  /* SPLIT_TEST | SPLIT_TRAIN bits; the CUB command: test */
	int not_freeze_bn;        /* 0: trunk BN frozen */
	int sync_bn;              /* trained BN normalises by the global batch over the ranks (--sync-bn; 0) */
	int test_split_num;       /* query slices of the AVSL tester (SOP 100); 1 = one global evaluation */
	int interval;             /* evaluate after epoch e when e % interval == 0 */
	int k_list[TC_MAX_LIST], n_k_list; /* 1 2 4 8 */
	int k;                    /* neighbours for kNN metrics; 0 = min(1023, largest class size) */
	char eval_exclude[TC_MAX_LIST][TC_WORD_LEN]; /* metric names skipped (NMI AMI f1_score) */
	int n_eval_exclude;
	double proxyanchor_margin, proxyanchor_alpha; /* 0.1 32: cosine Proxy-Anchor (gedml; §11-P1) */
	int baseline_distance;    /* --baseline-loss: 0 cosine PA (§4.3), 1 the AVSL repo's distance PA. Not given: the
				   * command's loss flags decide (train_config_parse): --pa_* without --proxyanchor_*
				   * is the AVSL repository's line (distance, §11-P1), else cosine */

	/* ---- avsl's own ---- */
	int epochs;               /* 61 */
	uint64_t seed;            /* 0 (the official code sets none) */
	int threads;              /* CPU threads; 0 = all CPUs. --num_workers is an alias */
	char *init;               /* ImageNet weights (safetensors, torchvision names) */
	char *resume;             /* checkpoint to continue from (not saved in the config) */
	char *out;                /* run directory (-o); overrides save_path/save_name */
	int input_size;           /* 224: training crop and eval center crop */
	int resize;               /* 256: shorter side before cropping; 0 = never resize */
	double crop_scale[2];     /* RandomResizedCrop scale 0.16 1 */
	double crop_ratio[2];     /* RandomResizedCrop aspect ratio 0.75 1.33 */
	float mean[3], std[3];    /* ImageNet (0.485 0.456 0.406) (0.229 0.224 0.225) */
	int channels;             /* network input channels 3 (1 for a gray trunk) */
	char *arch;               /* overrides --model when set */
	int base_width;           /* ResNet base width 64 */
	char *eval_data;          /* test shard/manifest (else derived from --data_path) */
	int log_every;            /* a log line every N steps (10) */
	int patience;             /* early stop after this many epochs without a better test R@1 (15) */
	int clip_mode;            /* clip_mode of optim.h: CLIP_FIRST (official), CLIP_EVERY, CLIP_NEVER */
	double clip_norm;         /* max global L2 norm per group, 10 */
	int verbosity;            /* CLI_QUIET / CLI_NORMAL / CLI_VERBOSE (not saved) */
	uint64_t given[2];        /* bit i: tc_opts[i] appeared on this command line (not saved) */
} train_config;

/* Result of train_config_parse. */
enum { TC_OK = 0, TC_ERROR = -1, TC_HELP = 1, TC_VERSION = 2, TC_PRINT = 3 /* --print-config */ };

/* Defaults (see above). */
void train_config_init(train_config *c);
void train_config_free(train_config *c);
/* Parse argv[1..argc-1] over the current contents of c (call train_config_init first). Returns TC_OK, TC_HELP,
 * TC_VERSION, or TC_ERROR with a one-line message in err ("--batch_size: out of range [1, 1000000]"). Never exits.
 * Also checks the result (train_config_check). */
int train_config_parse(train_config *c, int argc, char **argv, char *err, size_t errlen);
/* For a tool's main: init + parse; prints help, version or the resolved configuration (--print-config) and exits 0,
 * or die_usage (exit 2) on error. */
void train_config_parse_or_exit(train_config *c, int argc, char **argv);
/* Cross-field checks (data path present unless resuming, k >= max k_list, topk_corr <= embeddings_dim, ...). */
int train_config_check(const train_config *c, char *err, size_t errlen);
/* Full help text. */
void train_config_usage(FILE *fp);

/* Whether flag `name` (canonical, underscores) appeared on the command line. */
int train_config_given(const train_config *c, const char *name);
/* Whether the evaluation averages over query slices: --test_split_num > 1 with the AVSL setting (the official
 * proxy_anchor path ignores the flag and evaluates globally, avsl-method.md §8.3). */
int train_config_slices(const train_config *c);
/* One line on fp for every accepted official flag this implementation or the official code ignores (a baseline
 * given AVSL-only flags, --no-use-proxy). Returns the number of lines. */
int train_config_notices(const train_config *c, FILE *fp);
/* The resolved configuration as "key value" lines, one per setting that decides the result (train_config_print.c;
 * avsl-train --print-config; the keys are listed in avsl-train(1)). */
void train_config_print(const train_config *c, FILE *fp);

/* The architecture to build: --arch if given, else --model. */
const char *train_config_arch(const train_config *c);
/* Base learning rate of an optimiser group (lr_trunk / lr_embedder / lr_collector). */
double train_config_lr0(const train_config *c, param_group g);
/* Whether group g's optimiser steps in epoch e (warm-up: only the groups of --warm_up_list). */
int train_config_group_active(const train_config *c, param_group g, int epoch);
/* Whether to evaluate after epoch e (e % interval == 0, and always after the last epoch). */
int train_config_eval_due(const train_config *c, int epoch);
/* The run directory (malloc'd): --out, else save_path/save_name, else "run". */
char *train_config_run_dir(const train_config *c);
/* Training and test data paths (malloc'd): --data_path itself when it is a file; when it is a folder, the first of
 * DIR/train.avsm, DIR/train.avs (test: --eval-data, else DIR/test.avsm, DIR/test.avs) that exists. *test_path is
 * NULL when none is found. Returns 0, or -1 with err when no training data is found. */
int train_config_data_paths(const train_config *c, char **train_path, char **test_path, char *err, size_t errlen);

/* The loader configuration of the training (train = 1: --batch_size, RandomResizedCrop with --crop-scale and
 * --crop-ratio, flips) or evaluation (train = 0: --test_batch_size, center crop) pipeline: --input-size, --resize,
 * --mean, --std, --channels, --seed, --threads. */
void train_config_loader(const train_config *c, int train, loader_config *lc);

/* Set each optimiser group's lr (lr0 during warm-up, then StepLR: lr0 * gamma^floor((epoch - warm_up) / step)),
 * weight decay and active flag (warm-up) for epoch `epoch`. Call at the start of every epoch. */
void train_config_apply_epoch(const train_config *c, adamw *o, int epoch);
/* The optimiser update after a backward pass at global iteration `step` (0-based over the whole run): per-group
 * global-norm clipping to --clip-norm when --clip-grad says so (official: step 0 only, §11-P3), then AdamW on the
 * groups train_config_apply_epoch made active. norms (NULL: not wanted): each group's gradient norm before the
 * clipping, -1 where nothing was clipped this step (and for PG_NONE). */
void train_config_update(const train_config *c, adamw *o, int64_t step, double norms[PG_COUNT]);

/* Early stopping and model selection on test Recall@1 (avsl-method.md §5): strict improvement is a new best;
 * otherwise a counter grows by `interval`; stop when it reaches `patience` (patience 0: never), or when R@1 falls to
 * 0.6 x best or below (only once a best above 0 exists). The first evaluation is always a new best. */
typedef struct {
	double best;     /* best R@1 so far */
	int best_epoch;  /* -1 before the first evaluation */
	int bad;         /* epochs since the best, counted in steps of interval */
} early_stop;

void early_stop_init(early_stop *s);
/* Feed the R@1 of the evaluation after `epoch`. Returns 1 when it is a new best; *stop becomes 1 when training should
 * end after this epoch. */
int early_stop_update(early_stop *s, const train_config *c, int epoch, double r1, int *stop);

/* The configuration as one JSON object (malloc'd), keys = canonical flag names (underscores). */
char *train_config_to_json(const train_config *c);
/* Reset c to the defaults and apply a JSON object written by train_config_to_json. Returns 0, or -1 with err. */
int train_config_from_json(train_config *c, const char *json, char *err, size_t errlen);

#endif
