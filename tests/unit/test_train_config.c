/* Unit tests for libcommon/train_config: the official sample command lines (examples/samples_avsl.sh and
 * samples_baseline.sh of zbr17/AVSL, pasted unchanged except <path-to-data>/<path-to-log>), spelling variants,
 * nargs lists, errors and the JSON round trip. */
#include "harness.h"
#include "optim.h"
#include "train_config.h"
#include "util.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const cmd_avsl_cub =
	"python examples/demo.py --data_path data/cub200 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8 --pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 100 --use_proxy --wd 0.0001 --gamma 0.5 --step 10 --dataset cub200 --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --loss0_weight=0.5 --loss1_weight=1 --loss2_weight=0.5 --lr_collector=0.00011 --lr_embedder=0.00055 --lr_trunk=0.00001 "
	"--save_name proxy-anchor-resnet50-cub200-avsl";
static const char *const cmd_avsl_cars =
	"python examples/demo.py --data_path data/cars196 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8 --pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 98 --use_proxy --wd 0.0001 --gamma 0.5 --step 5 --dataset cars196 --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --loss0_weight=1 --loss1_weight=4 --loss2_weight=4 --lr_collector=0.09918213648327627 --lr_embedder=0.00016294139202611374 --lr_trunk=0.00025230934618157737 "
	"--save_name proxy-anchor-resnet50-cars196-avsl";
static const char *const cmd_avsl_sop =
	"python examples/demo.py --data_path data/online_products --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting avsl_proxyanchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --loss0_weight 1.0 --loss1_weight 4.0 --loss2_weight 4.0 --pa_pos_margin 1.8 --pa_neg_margin 2.4 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 11318 --use_proxy --wd 0.0001 --gamma 0.25 --step 15 --lr_trunk 0.0006 --lr_embedder 0.0006 --lr_collector 0.06 --dataset online_products --delete_old --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --not_freeze_bn --test_split_num 100 --interval 5 --k_list 1 10 100 --k 101 "
	"--save_name proxy-anchor-resnet50-online-avsl";
static const char *const cmd_base_cub =
	"python examples/demo.py --data_path data/cub200 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting proxy_anchor --embeddings_dim 512 --proxyanchor_margin 0.1 --proxyanchor_alpha 32 --num_classes 100 --wd 0.0001 --gamma 0.5 --step 5 --lr_trunk 0.0001 --lr_embedder 0.0001 --lr_collector 0.01 --dataset cub200 --model resnet50 --delete_old --warm_up 5 --warm_up_list embedder collector "
	"--save_name proxy-anchor-resnet50-cub200-baseline";
static const char *const cmd_base_cars =
	"python examples/demo.py --data_path data/cars196 --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting proxy_anchor --embeddings_dim 512 --proxyanchor_margin 0.1 --proxyanchor_alpha 32 --num_classes 98 --wd 0.0001 --gamma 0.5 --step 10 --lr_trunk 0.0001 --lr_embedder 0.0001 --lr_collector 0.01 --dataset cars196 --model resnet50 --delete_old --warm_up 5 --warm_up_list embedder collector "
	"--save_name proxy-anchor-resnet50-cars196-baseline";
static const char *const cmd_base_sop =
	"python examples/demo.py --data_path data/online_products --save_path logs --device 0 --batch_size 180 --test_batch_size 180 --setting proxy_anchor --feature_dim_list 512 1024 2048 --embeddings_dim 512 --avsl_m 0.5 --topk_corr 128 --prob_gamma 10 --index_p 2 --loss0_weight 1.0 --loss1_weight 4.0 --loss2_weight 4.0 --pa_pos_margin 1.8 --pa_neg_margin 2.4 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16 --num_classes 11318 --use_proxy --wd 0.0001 --gamma 0.25 --step 15 --lr_trunk 0.0006 --lr_embedder 0.0006 --lr_collector 0.06 --dataset online_products --delete_old --model resnet50 --splits_to_eval test --warm_up 5 --warm_up_list embedder collector --not_freeze_bn --test_split_num 100 --interval 5 --k_list 1 10 100 --k 101 --eval_exclude NMI AMI f1_score "
	"--save_name proxy-anchor-resnet50-online-baseline";

/* Split a pasted command line at spaces; drops "python examples/demo.py" (argv[0] becomes "avsl-train"). */
typedef struct {
	char *buf;
	char *argv[256];
	int argc;
} words;

static void split(words *w, const char *cmd)
{
	w->buf = xstrdup(cmd);
	w->argc = 0;
	w->argv[w->argc++] = "avsl-train";
	char *save = NULL;
	int skip = 2;
	for (char *t = strtok_r(w->buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (skip) {
			skip--;
			continue;
		}
		w->argv[w->argc++] = t;
	}
}

static int parse_cmd(train_config *c, const char *cmd, char *err)
{
	words w;
	split(&w, cmd);
	train_config_init(c);
	int rc = train_config_parse(c, w.argc, w.argv, err, 256);
	free(w.buf);
	return rc;
}

static int group_bits(const train_config *c)
{
	return (int)c->warm_up_groups;
}

/* Values common to every AVSL command (avsl-method.md §8.2). */
#define CHECK_AVSL_COMMON(c)                                                                                       \
	do {                                                                                                       \
		CHECK(strcmp((c).device, "0") == 0 && (c).device_given && (c).n_gpu_ids == 1 && (c).gpu_ids[0] == 0); \
		CHECK((c).batch_size == 180 && (c).test_batch_size == 180 && (c).setting == SETTING_AVSL);         \
		CHECK((c).feature_dim_list[0] == 512 && (c).feature_dim_list[1] == 1024 &&                         \
		      (c).feature_dim_list[2] == 2048 && (c).embeddings_dim == 512);                               \
		CHECK((c).avsl_m == 0.5 && (c).topk_corr == 128 && (c).prob_gamma == 10 && (c).index_p == 2);      \
		CHECK((c).pa_pos_margin == 1.8 && (c).pa_alpha == 16);                                             \
		CHECK((c).final_pa_pos_margin == 1.8 && (c).final_pa_neg_margin == 2.2 && (c).final_pa_alpha == 16); \
		CHECK((c).use_proxy == 1 && (c).wd == 0.0001 && strcmp((c).model, "resnet50") == 0);               \
		CHECK((c).splits_to_eval == SPLIT_TEST && (c).warm_up == 5);                                       \
		CHECK(group_bits(&(c)) == (1 << PG_EMBEDDER | 1 << PG_COLLECTOR));                                 \
		CHECK(strcmp((c).save_path, "logs") == 0);                                                         \
	} while (0)

TEST(official_avsl_cub)
{
	train_config c;
	char err[256] = "";
	CHECKF(parse_cmd(&c, cmd_avsl_cub, err) == TC_OK, "%s", err);
	CHECK_AVSL_COMMON(c);
	CHECK(strcmp(c.data_path, "data/cub200") == 0 && strcmp(c.dataset, "cub200") == 0);
	CHECK(c.pa_neg_margin == 2.2 && c.num_classes == 100 && c.gamma == 0.5 && c.step == 10);
	CHECK(c.loss_weight[0] == 0.5 && c.loss_weight[1] == 1 && c.loss_weight[2] == 0.5);
	CHECK(c.lr_trunk == 0.00001 && c.lr_embedder == 0.00055 && c.lr_collector == 0.00011);
	CHECK(!c.not_freeze_bn && c.test_split_num == 1 && c.interval == 1 && c.k == 0 && !c.delete_old);
	CHECK(c.n_k_list == 4 && c.k_list[3] == 8 && c.n_eval_exclude == 0);
	CHECK(strcmp(c.save_name, "proxy-anchor-resnet50-cub200-avsl") == 0);
	char *dir = train_config_run_dir(&c);
	CHECK(strcmp(dir, "logs/proxy-anchor-resnet50-cub200-avsl") == 0);
	free(dir);
	train_config_free(&c);
}

TEST(official_avsl_cars)
{
	train_config c;
	char err[256] = "";
	CHECKF(parse_cmd(&c, cmd_avsl_cars, err) == TC_OK, "%s", err);
	CHECK_AVSL_COMMON(c);
	CHECK(c.pa_neg_margin == 2.2 && c.num_classes == 98 && c.gamma == 0.5 && c.step == 5);
	CHECK(c.loss_weight[0] == 1 && c.loss_weight[1] == 4 && c.loss_weight[2] == 4);
	CHECK(c.lr_trunk == 0.00025230934618157737 && c.lr_embedder == 0.00016294139202611374 &&
	      c.lr_collector == 0.09918213648327627);
	CHECK(strcmp(c.dataset, "cars196") == 0 && !c.not_freeze_bn);
	train_config_free(&c);
}

TEST(official_avsl_sop)
{
	train_config c;
	char err[256] = "";
	CHECKF(parse_cmd(&c, cmd_avsl_sop, err) == TC_OK, "%s", err);
	CHECK_AVSL_COMMON(c);
	CHECK(c.pa_neg_margin == 2.4 && c.num_classes == 11318 && c.gamma == 0.25 && c.step == 15);
	CHECK(c.loss_weight[0] == 1 && c.loss_weight[1] == 4 && c.loss_weight[2] == 4);
	CHECK(c.lr_trunk == 0.0006 && c.lr_embedder == 0.0006 && c.lr_collector == 0.06);
	CHECK(c.delete_old && c.not_freeze_bn && c.test_split_num == 100 && c.interval == 5 && c.k == 101);
	CHECK(c.n_k_list == 3 && c.k_list[0] == 1 && c.k_list[1] == 10 && c.k_list[2] == 100);
	CHECK(strcmp(c.dataset, "online_products") == 0);
	CHECK(train_config_eval_due(&c, 0) && !train_config_eval_due(&c, 4) && train_config_eval_due(&c, 55) &&
	      train_config_eval_due(&c, 60));
	train_config_free(&c);
}

TEST(official_baseline_cub_cars)
{
	train_config c;
	char err[256] = "";
	CHECKF(parse_cmd(&c, cmd_base_cub, err) == TC_OK, "%s", err);
	CHECK(c.setting == SETTING_PROXY_ANCHOR && c.proxyanchor_margin == 0.1 && c.proxyanchor_alpha == 32);
	CHECK(c.num_classes == 100 && c.gamma == 0.5 && c.step == 5 && c.delete_old && c.warm_up == 5);
	CHECK(c.lr_trunk == 0.0001 && c.lr_embedder == 0.0001 && c.lr_collector == 0.01 && c.wd == 0.0001);
	CHECK(group_bits(&c) == (1 << PG_EMBEDDER | 1 << PG_COLLECTOR) && c.embeddings_dim == 512);
	train_config_free(&c);
	CHECKF(parse_cmd(&c, cmd_base_cars, err) == TC_OK, "%s", err);
	CHECK(c.setting == SETTING_PROXY_ANCHOR && c.num_classes == 98 && c.step == 10 && c.gamma == 0.5);
	CHECK(strcmp(c.save_name, "proxy-anchor-resnet50-cars196-baseline") == 0);
	train_config_free(&c);
}

TEST(official_baseline_sop)
{
	train_config c;
	char err[256] = "";
	CHECKF(parse_cmd(&c, cmd_base_sop, err) == TC_OK, "%s", err);
	CHECK(c.setting == SETTING_PROXY_ANCHOR && c.pa_pos_margin == 1.8 && c.pa_neg_margin == 2.4 &&
	      c.pa_alpha == 16);
	CHECK(c.not_freeze_bn && c.interval == 5 && c.k == 101 && c.n_k_list == 3 && c.k_list[2] == 100);
	CHECK(c.n_eval_exclude == 3 && strcmp(c.eval_exclude[0], "NMI") == 0 && strcmp(c.eval_exclude[1], "AMI") == 0 &&
	      strcmp(c.eval_exclude[2], "f1_score") == 0);
	CHECK(c.splits_to_eval == SPLIT_TEST && c.lr_collector == 0.06);
	/* the AVSL repository's proxy_anchor: distance PA with --pa_* (avsl-method.md §4.3, §11-P1) */
	CHECK(c.baseline_distance == 1 && train_config_slices(&c) == 0);
	train_config_free(&c);
	char *v[] = {"t", "--data_path", "x", "--setting", "proxy_anchor", "--baseline-loss", "distance"};
	train_config_init(&c);
	CHECKF(train_config_parse(&c, 7, v, err, sizeof err) == TC_OK, "%s", err);
	CHECK(c.baseline_distance == 1);
	train_config_free(&c);
}

TEST(defaults_are_the_cub_avsl_command)
{
	train_config d, c;
	char err[256] = "";
	char *argv[] = {"avsl-train", "--data_path", "data/cub200", "--save_path", "logs", "--device", "0",
			"--num_classes", "100", "--dataset", "cub200", "--save_name",
			"proxy-anchor-resnet50-cub200-avsl"};
	train_config_init(&d);
	CHECKF(train_config_parse(&d, 13, argv, err, sizeof err) == TC_OK, "%s", err);
	CHECKF(parse_cmd(&c, cmd_avsl_cub, err) == TC_OK, "%s", err);
	char *a = train_config_to_json(&d), *b = train_config_to_json(&c);
	CHECKF(strcmp(a, b) == 0, "%s\n vs\n%s", a, b);
	CHECK(d.epochs == 61 && d.patience == 15 && d.clip_mode == CLIP_FIRST && d.clip_norm == 10);
	free(a), free(b);
	train_config_free(&c), train_config_free(&d);
}

TEST(dashes_and_underscores_are_one_flag)
{
	train_config a, b;
	char err[256] = "";
	char *va[] = {"t", "--data-path", "x", "--batch-size", "64", "--lr-trunk", "3e-4", "--warm-up-list", "trunk",
		      "--not-freeze-bn", "--input_size", "32", "--crop_scale", "0.2,1", "--resize", "36"};
	char *vb[] = {"t", "--data_path", "x", "--batch_size=64", "--lr_trunk=3e-4", "--warm_up_list", "trunk",
		      "--not_freeze_bn", "--input-size", "32", "--crop-scale", "0.2", "1", "--resize=36"};
	train_config_init(&a);
	train_config_init(&b);
	CHECKF(train_config_parse(&a, 16, va, err, sizeof err) == TC_OK, "%s", err);
	CHECKF(train_config_parse(&b, 14, vb, err, sizeof err) == TC_OK, "%s", err);
	CHECK(a.batch_size == 64 && a.lr_trunk == 3e-4 && a.warm_up_groups == 1u << PG_TRUNK && a.not_freeze_bn);
	CHECK(a.input_size == 32 && a.crop_scale[0] == 0.2 && a.crop_scale[1] == 1.0 && a.resize == 36);
	char *ja = train_config_to_json(&a), *jb = train_config_to_json(&b);
	CHECK(strcmp(ja, jb) == 0);
	free(ja), free(jb);
	train_config_free(&a), train_config_free(&b);
}

TEST(nargs_lists_stop_at_next_option)
{
	train_config c;
	char err[256] = "";
	char *v[] = {"t", "--k_list", "1", "2", "4", "8", "16", "--data_path", "x", "--eval_exclude", "NMI",
		     "--mean", "-0.5", "--std", "0.5", "--channels", "1", "--device", "0", "1", "-q"};
	train_config_init(&c);
	CHECKF(train_config_parse(&c, 21, v, err, sizeof err) == TC_OK, "%s", err);
	CHECK(c.n_k_list == 5 && c.k_list[4] == 16 && strcmp(c.data_path, "x") == 0 && c.n_eval_exclude == 1);
	CHECK(c.mean[0] == -0.5f && c.mean[2] == -0.5f && c.std[1] == 0.5f && c.channels == 1); /* broadcast */
	CHECK(strcmp(c.device, "0,1") == 0 && c.n_gpu_ids == 2 && c.gpu_ids[1] == 1 && c.device_given);
	CHECK(c.verbosity == 0);
	train_config_free(&c);
	train_config_init(&c);
	char *w[] = {"t", "--data_path", "x", "--k_list", "1,10,100", "--warm_up_list", "embedder", "collector",
		     "trunk", "-o", "runs/a", "--arch", "cifar_resnet18", "--no-use-proxy", "--seed", "42"};
	CHECKF(train_config_parse(&c, 16, w, err, sizeof err) == TC_OK, "%s", err);
	CHECK(c.n_k_list == 3 && c.k_list[1] == 10 && c.warm_up_groups == 14u && !c.use_proxy && c.seed == 42);
	CHECK(strcmp(train_config_arch(&c), "cifar_resnet18") == 0 && strcmp(c.model, "resnet50") == 0);
	char *dir = train_config_run_dir(&c);
	CHECK(strcmp(dir, "runs/a") == 0);
	free(dir);
	train_config_free(&c);
}

static int expect_error(char **v, int n, const char *needle, char *err)
{
	train_config c;
	train_config_init(&c);
	int rc = train_config_parse(&c, n, v, err, 256);
	train_config_free(&c);
	return rc == TC_ERROR && strstr(err, needle) != NULL;
}

TEST(errors_are_reported_not_exited)
{
	char err[256];
	char *a[] = {"t", "--data_path", "x", "--bogus_flag", "1"};
	CHECKF(expect_error(a, 5, "unknown option '--bogus_flag'", err), "%s", err);
	char *b[] = {"t", "--data_path", "x", "--feature_dim_list", "512", "1024"};
	CHECKF(expect_error(b, 6, "expected 3 values, got 2", err), "%s", err);
	char *c[] = {"t", "--data_path", "x", "--batch_size", "1x"};
	CHECKF(expect_error(c, 5, "--batch_size: '1x'", err), "%s", err);
	char *d[] = {"t", "--data_path", "x", "--setting", "margin"};
	CHECKF(expect_error(d, 5, "--setting: 'margin'", err), "%s", err);
	char *e[] = {"t", "--batch_size", "8"};
	CHECKF(expect_error(e, 3, "--data_path is required", err), "%s", err);
	char *f[] = {"t", "--data_path", "x", "--warm_up_list", "loss"};
	CHECKF(expect_error(f, 5, "unknown value 'loss'", err), "%s", err);
	char *g[] = {"t", "--data_path", "x", "--k_list", "1", "10", "100", "--k", "50"};
	CHECKF(expect_error(g, 9, "--k 50 is smaller", err), "%s", err);
	char *h[] = {"t", "--data_path"};
	CHECKF(expect_error(h, 2, "--data_path needs a value", err), "%s", err);
	char *i[] = {"t", "--data_path", "x", "stray"};
	CHECKF(expect_error(i, 4, "unexpected argument 'stray'", err), "%s", err);
	char *j[] = {"t", "--data_path", "x", "--use_proxy=1"};
	CHECKF(expect_error(j, 4, "takes no value", err), "%s", err);
	char *k[] = {"t", "--data_path", "x", "--k_list"};
	CHECKF(expect_error(k, 4, "needs at least one value", err), "%s", err);
	char *l[] = {"t", "--data_path", "x", "--device", "gpu"};
	CHECKF(expect_error(l, 5, "--device: unknown device 'gpu'", err), "%s", err);
}

/* -d is --device; the device names are every tool's (device.h), plus the official GPU id lists. */
TEST(device_names_and_short_flag)
{
	train_config c;
	char err[256] = "";
	char *a[] = {"t", "--data_path", "x", "-d", "cuda:1"};
	train_config_init(&c);
	CHECKF(train_config_parse(&c, 5, a, err, sizeof err) == TC_OK, "%s", err);
	CHECK(strcmp(c.device, "cuda:1") == 0 && c.device_given && c.n_gpu_ids == 0);
	train_config_free(&c);
	char *b[] = {"t", "--data_path", "x", "-dcpu"};
	train_config_init(&c);
	CHECKF(train_config_parse(&c, 4, b, err, sizeof err) == TC_OK, "%s", err);
	CHECK(strcmp(c.device, "cpu") == 0 && c.device_given);
	train_config_free(&c);
	char *d[] = {"t", "--data_path", "x", "--device", "cuda:x"};
	CHECKF(expect_error(d, 5, "--device: unknown device 'cuda:x' (expected cpu, cuda, cuda:N, auto or GPU ids)",
			    err), "%s", err);
	char *e[] = {"t", "--data_path", "x", "--device", "auto", "0"};
	CHECKF(expect_error(e, 6, "'auto' must be the only value", err), "%s", err);
}

TEST(help_and_version)
{
	train_config c;
	char err[256];
	char *a[] = {"t", "-h"}, *b[] = {"t", "--version"};
	train_config_init(&c);
	CHECK(train_config_parse(&c, 2, a, err, sizeof err) == TC_HELP);
	CHECK(train_config_parse(&c, 2, b, err, sizeof err) == TC_VERSION);
	train_config_free(&c);
}

TEST(json_round_trip)
{
	train_config c, d;
	char err[256] = "";
	CHECKF(parse_cmd(&c, cmd_avsl_sop, err) == TC_OK, "%s", err);
	free(c.init);
	c.init = xstrdup("weights/\"resnet50\"\\in.safetensors"); /* escapes */
	c.seed = 18446744073709551615ull;
	c.lr_trunk = 0.1 + 0.2; /* not a short decimal: must round-trip exactly */
	c.mean[1] = 0.123456789f;
	c.clip_mode = CLIP_EVERY;
	char *j = train_config_to_json(&c);
	CHECKF(train_config_from_json(&d, j, err, sizeof err) == 0, "%s", err);
	char *j2 = train_config_to_json(&d);
	CHECKF(strcmp(j, j2) == 0, "%s\n vs\n%s", j, j2);
	CHECK(d.lr_trunk == c.lr_trunk && d.seed == c.seed && d.mean[1] == c.mean[1] && d.k == 101);
	CHECK(strcmp(d.init, c.init) == 0 && d.clip_mode == CLIP_EVERY && d.n_eval_exclude == 0);
	CHECK(d.not_freeze_bn && d.test_split_num == 100 && d.setting == SETTING_AVSL);
	free(j), free(j2);
	train_config_free(&c), train_config_free(&d);
	CHECK(train_config_from_json(&d, "{\"batch_size\":12,\"nope\":1}", err, sizeof err) == -1 &&
	      strstr(err, "unknown key 'nope'"));
	train_config_free(&d);
	CHECK(train_config_from_json(&d, "{\"batch_size\":12", err, sizeof err) == -1);
	train_config_free(&d);
	CHECK(train_config_from_json(&d, "{\"use_proxy\":false,\"warm_up_list\":[]}", err, sizeof err) == 0 &&
	      !d.use_proxy && d.warm_up_groups == 0);
	train_config_free(&d);
}

/* --sync-bn: off by default, saved in the JSON (absent in older checkpoints: off), --no-sync-bn turns a saved one off
 * (resume), --print-config says where BN statistics come from, and a note says it does nothing with frozen BN. */
TEST(sync_bn_flag)
{
	train_config c, d;
	char err[256] = "";
	CHECKF(parse_cmd(&c, "python x --data_path d --not_freeze_bn", err) == TC_OK, "%s", err);
	CHECK(!c.sync_bn);
	train_config_free(&c);
	CHECKF(parse_cmd(&c, "python x --data_path d --not_freeze_bn --sync-bn", err) == TC_OK, "%s", err);
	CHECK(c.sync_bn);
	char *j = train_config_to_json(&c);
	CHECK(strstr(j, "\"sync_bn\":true") != NULL);
	CHECKF(train_config_from_json(&d, j, err, sizeof err) == 0, "%s", err);
	CHECK(d.sync_bn);
	char *argv[] = {"avsl-train", "--no-sync-bn"};
	CHECKF(train_config_parse(&d, 2, argv, err, sizeof err) == TC_OK, "%s", err);
	CHECK(!d.sync_bn);
	train_config_free(&d);
	CHECK(train_config_from_json(&d, "{\"batch_size\":12}", err, sizeof err) == 0 && !d.sync_bn);
	train_config_free(&d);
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);
	train_config_print(&c, fp);
	CHECK(train_config_notices(&c, fp) == 0);
	fclose(fp);
	CHECKF(strstr(out, " trained (batch statistics of the global batch, --sync-bn)\n") != NULL, "%s", out);
	free(out), free(j);
	train_config_free(&c);
	CHECKF(parse_cmd(&c, "python x --data_path d --sync-bn", err) == TC_OK, "%s", err);
	fp = open_memstream(&out, &len);
	CHECK(train_config_notices(&c, fp) == 1);
	fclose(fp);
	CHECKF(strstr(out, "--sync-bn has no effect") != NULL, "%s", out);
	free(out);
	train_config_free(&c);
}

TEST(warm_up_and_lr_queries)
{
	train_config c;
	train_config_init(&c);
	CHECK(!train_config_group_active(&c, PG_TRUNK, 0) && !train_config_group_active(&c, PG_TRUNK, 4));
	CHECK(train_config_group_active(&c, PG_TRUNK, 5) && train_config_group_active(&c, PG_EMBEDDER, 0));
	CHECK(train_config_group_active(&c, PG_COLLECTOR, 0) && !train_config_group_active(&c, PG_NONE, 9));
	CHECK(train_config_lr0(&c, PG_EMBEDDER) == 5.5e-4 && train_config_lr0(&c, PG_COLLECTOR) == 1.1e-4);
	train_config_free(&c);
}

/* Exit status of train_config_parse_or_exit in a child (stdout and stderr to /dev/null). */
static int exit_status_of(char **v, int n)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		train_config c;
		train_config_parse_or_exit(&c, n, v);
		_exit(99);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

TEST(wrapper_exit_codes)
{
	char *ok[] = {"avsl-train", "--data_path", "x"}, *help[] = {"avsl-train", "--help"},
	     *ver[] = {"avsl-train", "-V"}, *bad[] = {"avsl-train", "--data_path", "x", "--lr-trunk", "fast"},
	     *unknown[] = {"avsl-train", "--nope"};
	CHECK(exit_status_of(ok, 3) == 99);
	CHECK(exit_status_of(help, 2) == 0 && exit_status_of(ver, 2) == 0);
	CHECK(exit_status_of(bad, 5) == 2 && exit_status_of(unknown, 2) == 2);
}

TEST(data_paths_from_a_folder_or_a_file)
{
	char dir[] = "/tmp/avsl-test-tc-XXXXXX";
	CHECK(mkdtemp(dir));
	char p1[128], p2[128], p3[128];
	snprintf(p1, sizeof p1, "%s/train.avs", dir);
	snprintf(p2, sizeof p2, "%s/test.avsm", dir);
	snprintf(p3, sizeof p3, "%s/test.avs", dir);
	FILE *f = fopen(p1, "w");
	fclose(f);
	f = fopen(p2, "w");
	fclose(f);
	f = fopen(p3, "w");
	fclose(f);
	train_config c;
	train_config_init(&c);
	c.data_path = xstrdup(dir);
	char *tr, *te, err[256];
	CHECK(train_config_data_paths(&c, &tr, &te, err, sizeof err) == 0);
	CHECK(strcmp(tr, p1) == 0 && te && strcmp(te, p2) == 0); /* the manifest wins over the shard */
	free(tr), free(te);
	c.eval_data = xstrdup("other.avs");
	CHECK(train_config_data_paths(&c, &tr, &te, err, sizeof err) == 0 && strcmp(te, "other.avs") == 0);
	free(tr), free(te);
	free(c.data_path);
	c.data_path = xstrdup(p1); /* a file: used as is */
	CHECK(train_config_data_paths(&c, &tr, &te, err, sizeof err) == 0 && strcmp(tr, p1) == 0);
	free(tr), free(te);
	unlink(p1), unlink(p2), unlink(p3);
	free(c.data_path);
	c.data_path = xstrdup(dir); /* empty folder */
	CHECK(train_config_data_paths(&c, &tr, &te, err, sizeof err) == -1 && strstr(err, "no train.avsm"));
	rmdir(dir);
	char *rd = train_config_run_dir(&c);
	CHECK(strcmp(rd, "run") == 0);
	free(rd);
	train_config_free(&c);
}

TEST(loader_config_from_flags)
{
	train_config c;
	char err[256] = "";
	char *v[] = {"t", "--data_path", "x", "--batch_size", "64", "--test_batch_size", "100", "--input-size", "28",
		     "--resize", "0", "--crop-scale", "0.5,1", "--channels", "1", "--mean", "0.286", "--std", "0.353",
		     "--seed", "9", "--threads", "3"};
	train_config_init(&c);
	CHECKF(train_config_parse(&c, 23, v, err, sizeof err) == TC_OK, "%s", err);
	CHECK(!c.device_given && strcmp(c.device, "auto") == 0);
	loader_config tr, ev;
	train_config_loader(&c, 1, &tr);
	train_config_loader(&c, 0, &ev);
	CHECK(tr.train && tr.batch == 64 && tr.out_h == 28 && tr.out_w == 28 && tr.channels == 1 && tr.resize == 0);
	CHECK(tr.scale_lo == 0.5f && tr.scale_hi == 1.0f && tr.ratio_lo == 0.75f && tr.ratio_hi == 1.33f);
	CHECK(tr.mean[0] == 0.286f && tr.std[0] == 0.353f && tr.seed == 9 && tr.threads == 3 && tr.flip);
	CHECK(!ev.train && ev.batch == 100 && ev.out_h == 28 && ev.seed == 9);
	train_config_free(&c);
}

TEST(apply_epoch_sets_the_three_optimisers)
{
	train_config c;
	char err[256] = "";
	CHECKF(parse_cmd(&c, cmd_avsl_sop, err) == TC_OK, "%s", err);
	paramset ps;
	paramset_init(&ps);
	int64_t s = 2;
	paramset_add(&ps, "w", 1, &s, PG_TRUNK, 1);
	paramset_finalize(&ps);
	adamw o;
	adamw_init(&o, &ps);
	train_config_apply_epoch(&c, &o, 4);
	CHECK(!o.group[PG_TRUNK].active && o.group[PG_EMBEDDER].active && o.group[PG_COLLECTOR].active);
	CHECK(o.group[PG_COLLECTOR].lr == 0.06 && o.group[PG_TRUNK].wd == 0.0001);
	train_config_apply_epoch(&c, &o, 20); /* (20 - 5) / 15 = 1 step of 0.25 */
	CHECK(o.group[PG_TRUNK].active && o.group[PG_TRUNK].lr == 0.0006 * 0.25 && o.group[PG_COLLECTOR].lr == 0.06 * 0.25);
	train_config_apply_epoch(&c, &o, 19);
	CHECK(o.group[PG_EMBEDDER].lr == 0.0006);
	adamw_free(&o);
	paramset_free(&ps);
	train_config_free(&c);
}

TEST(early_stop_patience_and_collapse)
{
	train_config c;
	train_config_init(&c); /* interval 1, patience 15 */
	early_stop s;
	early_stop_init(&s);
	int stop;
	CHECK(early_stop_update(&s, &c, 0, 0.0, &stop) == 1 && !stop); /* the first evaluation is the best */
	CHECK(early_stop_update(&s, &c, 1, 0.5, &stop) == 1 && !stop && s.best_epoch == 1);
	CHECK(early_stop_update(&s, &c, 2, 0.5, &stop) == 0 && !stop); /* equal is not better */
	for (int e = 3; e < 16; e++)
		CHECK(early_stop_update(&s, &c, e, 0.45, &stop) == 0 && !stop);
	CHECK(early_stop_update(&s, &c, 16, 0.45, &stop) == 0 && stop && s.bad == 15); /* 15 epochs without gain */
	early_stop_init(&s);
	c.interval = 5; /* SOP: 3 evaluations without gain */
	CHECK(early_stop_update(&s, &c, 0, 0.5, &stop) == 1);
	CHECK(early_stop_update(&s, &c, 5, 0.4, &stop) == 0 && !stop);
	CHECK(early_stop_update(&s, &c, 10, 0.4, &stop) == 0 && !stop);
	CHECK(early_stop_update(&s, &c, 15, 0.4, &stop) == 0 && stop);
	early_stop_init(&s);
	CHECK(early_stop_update(&s, &c, 0, 0.5, &stop) == 1);
	CHECK(early_stop_update(&s, &c, 5, 0.3, &stop) == 0 && stop); /* 0.3 <= 0.6 * 0.5: collapsed */
	c.patience = 0;
	early_stop_init(&s);
	CHECK(early_stop_update(&s, &c, 0, 0.5, &stop) == 1);
	for (int e = 1; e < 100; e++)
		CHECK(early_stop_update(&s, &c, e * 5, 0.49, &stop) == 0 && !stop);
	train_config_free(&c);
}

int main(void)
{
	RUN(official_avsl_cub);
	RUN(official_avsl_cars);
	RUN(official_avsl_sop);
	RUN(official_baseline_cub_cars);
	RUN(official_baseline_sop);
	RUN(defaults_are_the_cub_avsl_command);
	RUN(dashes_and_underscores_are_one_flag);
	RUN(nargs_lists_stop_at_next_option);
	RUN(errors_are_reported_not_exited);
	RUN(device_names_and_short_flag);
	RUN(help_and_version);
	RUN(json_round_trip);
	RUN(sync_bn_flag);
	RUN(warm_up_and_lr_queries);
	RUN(wrapper_exit_codes);
	RUN(data_paths_from_a_folder_or_a_file);
	RUN(loader_config_from_flags);
	RUN(apply_epoch_sets_the_three_optimisers);
	RUN(early_stop_patience_and_collapse);
	return harness_finish();
}
