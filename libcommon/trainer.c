/* trainer.c: see trainer.h. */
#include "trainer.h"
#include "checkpoint.h"
#include "devmem.h"
#include "cli.h"
#include "dist.h"
#include "evaluate.h"
#include "loader.h"
#include "model.h"
#include "optim.h"
#include "signals.h"
#include "thread_adapt.h"
#include "trainlog.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	train_config *c;
	char *dir, *last_path, *model_path, *log_path;
	char *train_path, *test_path;
	loader *train, *test;
	avsl_device *dev; /* opened once (trainer_run); model and optimiser run on it */
	model m;
	adamw opt;
	train_state st;
	trainlog log;
	int quiet;
	int lead;          /* rank 0 (or the only process): writes the log and the checkpoints, prints */
	int rank_batch;    /* most training images per step on this rank */
	int test_batch;    /* evaluation batch: --test_batch_size, at most the test records */
	double comm_s;     /* this epoch: seconds blocked in communication, */
	double step_s;     /* and in training steps */
	int adapting;      /* threads follow the load (--threads 0, one process, CPU): adapt_threads */
	thread_adapt adapt;
	cpu_sample adapt_prev;
} trainer;

static void make_dir(const char *dir)
{
	char *p = xstrdup(dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0777) != 0 && errno != EEXIST)
			die("%s: cannot create: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0777) != 0 && errno != EEXIST)
		die("%s: cannot create: %s", p, strerror(errno));
	free(p);
}

static void open_data(trainer *t)
{
	char err[512];
	if (train_config_data_paths(t->c, &t->train_path, &t->test_path, err, sizeof err))
		die("%s", err);
	loader_config lc;
	train_config_loader(t->c, 1, &lc);
	/* Data parallel: the global batch --batch_size is split over the ranks (loader.h), so the batches and their
	 * order are those of one process whatever the rank count (a run resumes on any number of ranks). */
	lc.rank = dist_rank(), lc.world = dist_world();
	t->rank_batch = loader_rank_batch(&lc);
	t->train = loader_open_or_die(t->train_path, &lc);
	if (loader_num_batches(t->train) < 1)
		die("%s: %llu images, fewer than one batch of %d", t->train_path,
		    (unsigned long long)loader_count(t->train), t->c->batch_size);
	if (t->test_path && (t->c->splits_to_eval & SPLIT_TEST)) {
		train_config_loader(t->c, 0, &lc);
		lc.rank = dist_rank(), lc.world = dist_world();
		t->test = loader_open_or_die(t->test_path, &lc);
		uint64_t n = loader_count(t->test);
		if (n > 0 && n < (uint64_t)lc.batch) {
			/* as avsl-embed: a batch larger than the records only costs memory (one batch either way, so the
			 * numbers are the same) */
			loader_close(t->test);
			lc.batch = (int)n;
			t->test = loader_open_or_die(t->test_path, &lc);
		}
		t->test_batch = lc.batch;
	}
}

/* The device of this run: `name` (this command line's -d, NULL: AVSL_DEVICE or auto) with the configuration's
 * threads. Refused (exit 1) before any data is read when it cannot train. */
static void open_device(trainer *t, const char *name)
{
	avsl_precision_set(t->c->precision);
	/* Every op of a step runs on CUDA; the data-parallel exchanges of the heads (gathered distance rows, labels,
	 * BN sums) still work on host memory, so several ranks train on the CPU only. */
	t->dev = avsl_device_open(name, t->c->threads, "training",
				  dist_world() > 1 ? "data-parallel training over several ranks (mpirun)" : NULL);
	devmem_set_hint("the batch size (--batch_size, and --test_batch_size for the evaluation)");
}

/* The host copies of what lives on the device (parameters; with opt also the Adam moments) brought up to date before
 * a checkpoint or a host reader (evaluation's collector); nothing to do on the CPU. */
static void sync_host(trainer *t, int with_opt)
{
	paramset_download(&t->m.ps);
	if (with_opt)
		adamw_download(&t->opt);
}

static void save(trainer *t, const char *path, int with_opt)
{
	sync_host(t, with_opt);
	checkpoint_save(path, &t->m, with_opt ? &t->opt : NULL, t->c, &t->st);
}

/* device: this command line's -d (a resumed run keeps the stored threads but not the stored device). */
static void build_model(trainer *t, int argc, char **argv, const char *device)
{
	train_config *c = t->c;
	if (c->resume) {
		/* The stored configuration, then the command line again over it (so --epochs etc. can be raised). */
		char *resume = xstrdup(c->resume);
		checkpoint_read_config(resume, c);
		char err[512];
		if (train_config_parse(c, argc, argv, err, sizeof err) != TC_OK)
			die_usage("%s", err);
		open_device(t, device);
		open_data(t);
		checkpoint_load(resume, c, &t->m, &t->opt, &t->st, t->dev);
		if (!t->quiet)
			fprintf(stderr, "%s: resumed %s at epoch %d, step %lld\n", avsl_progname(), resume, t->st.epoch,
				(long long)t->st.step);
		free(resume);
		return;
	}
	open_device(t, device);
	open_data(t);
	int K = c->num_classes ? c->num_classes : loader_num_classes(t->train);
	if (K < loader_num_classes(t->train))
		die("%s: labels go up to %d but --num_classes is %d", t->train_path, loader_num_classes(t->train) - 1,
		    K);
	model_create(&t->m, c, K, t->dev);
	model_init_random(&t->m, c->seed);
	if (c->init)
		model_load_trunk(&t->m, c->init);
	adamw_init(&t->opt, &t->m.ps);
	t->st = (train_state){.best_recall1 = -1, .best_epoch = -1};
}

static void fill_entry(const trainer *t, trainlog_entry *e, int epoch, const double *loss_sum, int batches)
{
	memset(e, 0, sizeof *e);
	e->data_wait = -1;
	static const char *const avsl_names[4] = {"final", "level0", "level1", "level2"};
	e->epoch = epoch;
	e->step = t->st.step;
	e->n_losses = t->m.avsl ? 4 : 1;
	for (int i = 0; i < e->n_losses; i++) {
		e->loss_name[i] = t->m.avsl ? avsl_names[i] : "loss";
		e->loss[i] = batches ? loss_sum[i] / batches : 0;
	}
	for (int g = PG_TRUNK; g < PG_COUNT; g++) {
		e->lr[g - 1] = t->opt.group[g].lr;
		e->active[g - 1] = t->opt.group[g].active;
	}
}

static void save_last(trainer *t)
{
	if (t->lead)
		save(t, t->last_path, 1);
}

/* Evaluate on the test split; returns Recall@1 and fills the entry's metrics. Under mpirun every rank embeds its
 * part and rank 0 alone computes the metrics (the other ranks return -1 with e untouched). */
static double evaluate(trainer *t, trainlog_entry *e)
{
	const train_config *c = t->c;
	ave_set s;
	sync_host(t, 0); /* the metrics' collector reads the links and gates on the host */
	evaluate_embed(&t->m, t->test, &s, t->quiet);
	evaluate_gather(&s);
	if (!t->lead) {
		ave_free(&s);
		return -1;
	}
	long ks[TC_MAX_LIST];
	for (int i = 0; i < c->n_k_list; i++)
		ks[i] = c->k_list[i];
	metrics_mean g, sl;
	int slices = train_config_slices(c); /* 0 for the baseline: proxy_anchor ignores --test_split_num (§8.3) */
	evaluate_metrics(&t->m, &s, ks, c->n_k_list, (uint32_t)c->k, slices, &g, slices ? &sl : NULL, t->quiet);
	ave_free(&s);
	/* With --test_split_num the official tester reports (and selects on) the slice mean (§7.3). */
	const metrics_mean *sel = slices ? &sl : &g;
	e->n_recall = c->n_k_list;
	for (int i = 0; i < c->n_k_list; i++) {
		e->recall_k[i] = c->k_list[i];
		e->recall[i] = sel->recall[i];
	}
	e->n_metrics = 2;
	e->metric_name[0] = "map_at_r";
	e->metric[0] = sel->map_at_r;
	e->metric_name[1] = "r_precision";
	e->metric[1] = sel->r_precision;
	if (slices) {
		e->n_metrics = 3;
		e->metric_name[2] = "global_recall1";
		e->metric[2] = g.recall[0];
	}
	return sel->recall[0];
}

/* Every ~1.5 s, between steps: the thread count for what the other processes leave free (thread_adapt.h). */
static void adapt_threads(trainer *t)
{
	cpu_sample now;
	if (!t->adapting || avsl_now() - t->adapt_prev.wall_s < 1.5)
		return;
	cpu_sample_read(&now, "/proc/stat");
	double others = cpu_others(&t->adapt_prev, &now);
	int was = t->dev->threads, n = thread_adapt_decide(&t->adapt, others);
	t->adapt_prev = now;
	if (!now.ok)
		t->adapt_prev.wall_s = avsl_now(); /* unreadable: try again in 1.5 s */
	if (n == was)
		return;
	op_ctx_set_threads(&t->dev->ctx, n);
	t->dev->threads = n; /* the optimiser's ops run on dev->ctx too */
	if (t->lead && t->c->verbosity >= CLI_VERBOSE)
		fprintf(stderr, "%s: threads: %d -> %d (other processes use %.1f CPU)\n", avsl_progname(), was, n, others);
}

/* One epoch; returns 0, or the signal number when interrupted (a checkpoint has been saved). */
static int run_epoch(trainer *t, int epoch, int skip_batches)
{
	const train_config *c = t->c;
	train_config_apply_epoch(c, &t->opt, epoch);
	/* Resuming mid-epoch: the loader is deterministic, so starting at the saved batch replays the same order. */
	loader_start_epoch_at(t->train, epoch, skip_batches);
	int64_t nb = loader_num_batches(t->train);
	const float *x;
	const int32_t *labels;
	const int64_t *ids;
	double sum[4] = {0}, win[4] = {0};
	int n_sum = 0, n_win = 0;
	double t0 = avsl_now(), tw = t0;
	double wait_sum = 0, wait_win = 0; /* seconds blocked on the loader (its threads prepare the next batches) */
	int trunk_grads = t->opt.group[PG_TRUNK].active;
	for (int64_t b = skip_batches; b < nb; b++) {
		double tl = avsl_now();
		int n = loader_next_borrow(t->train, &x, &labels, &ids);
		tl = avsl_now() - tl;
		wait_sum += tl, wait_win += tl;
		if (n < 0)
			die("%s", loader_error(t->train));
		if (n == 0)
			break;
		paramset_zero_grad(&t->m.ps);
		float terms[4] = {0};
		double ts = avsl_now(), cs = dist_comm_seconds();
		/* Under mpirun the losses are those of the global batch and the gradients come back summed over the
		 * ranks (model_set_grad_sync), so the clipping and the AdamW step below are the same on every rank. */
		float loss = model_train_step(&t->m, x, labels, n, trunk_grads, terms);
		if (!isfinite(loss))
			die("epoch %d step %lld: the loss is %g; stopping (the last good checkpoint is %s)", epoch,
			    (long long)t->st.step, (double)loss, t->last_path);
		double norms[PG_COUNT];
		train_config_update(c, &t->opt, t->st.step, norms);
		if (norms[PG_TRUNK] >= 0 && t->lead && c->verbosity >= CLI_VERBOSE)
			fprintf(stderr, "%s: step %lld: gradient norms before clipping: trunk %.6g, embedder %.6g, "
				"collector %.6g\n", avsl_progname(), (long long)t->st.step, norms[PG_TRUNK], norms[PG_EMBEDDER],
				norms[PG_COLLECTOR]);
		t->st.step++;
		adapt_threads(t);
		/* a signal on any rank stops every rank after this same step */
		int sig = dist_max_int(signals_received());
		t->step_s += avsl_now() - ts;
		t->comm_s += dist_comm_seconds() - cs;
		int nt = t->m.avsl ? 4 : 1;
		for (int i = 0; i < nt; i++)
			sum[i] += terms[i], win[i] += terms[i];
		n_sum++, n_win++;
		if (c->log_every > 0 && t->st.step % c->log_every == 0) {
			trainlog_entry e;
			fill_entry(t, &e, epoch, win, n_win);
			double now = avsl_now();
			e.seconds = now - tw;
			e.img_s = e.seconds > 0 ? (double)n_win * c->batch_size / e.seconds : 0;
			e.data_wait = e.seconds > 0 ? wait_win / e.seconds : 0;
			if (t->lead)
				trainlog_step(&t->log, &e);
			if (t->lead && c->verbosity >= CLI_VERBOSE)
				fprintf(stderr, "%s: epoch %d step %lld loss %.5f  %.1f img/s\n", avsl_progname(), epoch,
					(long long)t->st.step, e.loss[0], e.img_s);
			memset(win, 0, sizeof win);
			n_win = 0;
			wait_win = 0;
			tw = now;
		}
		if (sig) {
			t->st.epoch = epoch;
			t->st.batch_in_epoch = (int)b + 1;
			save_last(t);
			if (t->lead)
				fprintf(stderr, "%s: interrupted; saved %s (epoch %d, batch %d); continue with --resume %s\n",
					avsl_progname(), t->last_path, epoch, t->st.batch_in_epoch, t->last_path);
			return sig;
		}
	}
	trainlog_entry e;
	fill_entry(t, &e, epoch, sum, n_sum);
	e.seconds = avsl_now() - t0;
	e.img_s = e.seconds > 0 ? (double)n_sum * c->batch_size / e.seconds : 0;
	e.data_wait = e.seconds > 0 ? wait_sum / e.seconds : 0;
	if (t->lead && c->verbosity >= CLI_VERBOSE)
		fprintf(stderr, "%s: epoch %d: %.1f%% of the time waiting for data (%.2f of %.2f s)\n", avsl_progname(),
			epoch, 100 * e.data_wait, wait_sum, e.seconds);
	t->st.epoch = epoch + 1;
	t->st.batch_in_epoch = 0;
	int stop = 0;
	if (t->test && train_config_eval_due(c, epoch)) {
		double r1 = evaluate(t, &e);
		if (t->lead) {
			/* Model selection and early stop on test Recall@1, as the official manager does (§5, §11-P11). */
			early_stop es = {.best = t->st.best_recall1, .best_epoch = t->st.best_epoch, .bad = t->st.bad_epochs};
			e.best = early_stop_update(&es, c, epoch, r1, &stop);
			t->st.best_recall1 = es.best;
			t->st.best_epoch = es.best_epoch;
			t->st.bad_epochs = es.bad;
			if (e.best)
				save(t, t->model_path, 0);
		}
		/* rank 0 decided: every rank keeps the same state (it is in the checkpoints) and stops together */
		dist_bcast(&t->st, sizeof t->st, 0);
		dist_bcast(&stop, sizeof stop, 0);
	} else if (!t->test && t->lead) {
		save(t, t->model_path, 0);
	}
	if (t->lead)
		trainlog_epoch(&t->log, &e);
	if (!t->quiet)
		trainlog_print_summary(stderr, c->epochs, &e);
	if (!t->quiet && dist_world() > 1)
		fprintf(stderr, "%s: %d ranks: communication %.1f%% of step time (%.3f of %.3f s, not hidden by the backward "
			"pass; overlap %s)\n", avsl_progname(), dist_world(), t->step_s > 0 ? 100 * t->comm_s / t->step_s : 0,
			t->comm_s, t->step_s, t->m.overlap ? "on" : "off");
	t->comm_s = t->step_s = 0;
	save_last(t);
	if (stop && !t->quiet)
		fprintf(stderr, "%s: early stop after epoch %d (best Recall@1 %.4f at epoch %d)\n", avsl_progname(),
			epoch, t->st.best_recall1, t->st.best_epoch);
	return stop ? -1 : 0;
}

/* The -d/--device name to open, copied into buf (a resume overwrites c->device): NULL when not given ($AVSL_DEVICE
 * or auto decide, device.h). The official GPU id lists (--device 0 1) run one rank per listed GPU: rank r takes
 * the r-th id, one process the first. */
static const char *device_name(const train_config *c, char *buf, size_t n)
{
	if (!c->device_given)
		return NULL;
	if (c->n_gpu_ids == 0)
		snprintf(buf, n, "%s", c->device);
	else
		snprintf(buf, n, "cuda:%d", c->gpu_ids[dist_rank() % c->n_gpu_ids]);
	return buf;
}

int trainer_run(train_config *c, int argc, char **argv)
{
	char devbuf[sizeof c->device];
	trainer t = {.c = c};
	t.lead = dist_rank() == 0;
	t.quiet = c->verbosity == CLI_QUIET || !t.lead;
	build_model(&t, argc, argv, device_name(c, devbuf, sizeof devbuf));
	/* After the parameters and moments are final (initialised, loaded or resumed): on a device they move there for
	 * the whole run, and the optimiser's ops run on the model's device. */
	model_to_device(&t.m);
	adamw_to_device(&t.opt, &t.dev->ctx);
	/* Only a thread count the user left open adapts, and not under mpirun: the other ranks would count as other
	 * processes, and ranks deciding apart would run different thread counts. */
	t.adapting = c->threads == 0 && dist_world() == 1 && t.dev->kind == OP_DEVICE_CPU;
	if (t.adapting) {
		/* from the CPUs this process may run on (taskset, cgroup cpusets), not all online ones */
		int usable = thread_adapt_usable_cpus();
		thread_adapt_init(&t.adapt, usable, usable);
		op_ctx_set_threads(&t.dev->ctx, usable);
		t.dev->threads = usable;
		cpu_sample_read(&t.adapt_prev, "/proc/stat");
		t.adapt_prev.wall_s = avsl_now();
	}
	if (!t.quiet)
		train_config_notices(c, stderr);
	char err[512];
	if (train_config_check(c, err, sizeof err))
		die_usage("%s", err);
	t.dir = train_config_run_dir(c);
	if (t.lead)
		make_dir(t.dir);
	t.last_path = xasprintf("%s/last.safetensors", t.dir);
	struct stat sb;
	if (t.lead && !c->resume && !c->delete_old && stat(t.last_path, &sb) == 0)
		die("%s: a previous run is there; continue it with --resume %s, or replace it with --delete_old", t.dir,
		    t.last_path);
	t.model_path = xasprintf("%s/model.safetensors", t.dir);
	t.log_path = xasprintf("%s/train.jsonl", t.dir);
	if (t.lead) {
		if (!c->resume)
			unlink(t.log_path); /* a new run (possibly --delete_old) starts a new log; a resumed one appends */
		if (trainlog_open(&t.log, t.log_path))
			die("%s: %s", t.log_path, strerror(errno));
	}
	/* The evaluation's forward-only plan only when something is evaluated; the trunk keeps one arena, the
	 * larger of the two plans. */
	model_plan(&t.m, t.rank_batch);
	if (t.test)
		model_plan_embed(&t.m, t.test_batch);
	if (t.lead && c->verbosity >= CLI_VERBOSE) {
		fprintf(stderr, "%s: activation arena: training %.1f MB (batch %d)", avsl_progname(),
			t.m.train_bytes / 1e6, t.rank_batch);
		if (t.test)
			fprintf(stderr, ", evaluation %.1f MB (forward-only, batch %d)", t.m.embed_bytes / 1e6,
				t.test_batch);
		else
			fprintf(stderr, ", no evaluation");
		fprintf(stderr, "\n");
	}
	/* AVSL_DIST_OVERLAP=0: sum the gradients after the backward pass instead of during it (for measurements) */
	const char *ov = getenv("AVSL_DIST_OVERLAP");
	model_set_grad_sync(&t.m, 1, !(ov && strcmp(ov, "0") == 0));
	model_set_sync_bn(&t.m, c->sync_bn);
	if (!t.quiet)
		fprintf(stderr,
			"%s: %s %s, %d classes, %llu training images (%lld batches of %d), %zu trainable parameters, "
			"%s%s%d %sthreads%s -> %s\n",
			avsl_progname(), c->setting == SETTING_AVSL ? "AVSL" : "Proxy-Anchor baseline",
			train_config_arch(c), t.m.K, (unsigned long long)loader_count(t.train),
			(long long)loader_num_batches(t.train), c->batch_size, paramset_trainable_count(&t.m.ps),
			t.dev->kind == OP_DEVICE_CPU ? "" : t.dev->name, t.dev->kind == OP_DEVICE_CPU ? "" : " + ",
			t.dev->threads, t.dev->kind == OP_DEVICE_CPU ? "" : "host ", t.adapting ? " (fewer while other processes keep CPUs busy)" : "", t.dir);
	if (!t.quiet && dist_world() > 1)
		fprintf(stderr, "%s: %d ranks, up to %d images each per step\n", avsl_progname(), dist_world(),
			t.rank_batch);
	signals_install();
	int status = 0;
	for (int epoch = t.st.epoch; epoch < c->epochs; epoch++) {
		int skip = epoch == t.st.epoch ? t.st.batch_in_epoch : 0;
		int r = run_epoch(&t, epoch, skip);
		if (r > 0) {
			status = 128 + r;
			break;
		}
		if (r < 0)
			break;
	}
	if (!status && t.st.best_epoch < 0 && t.test == NULL && !t.quiet)
		fprintf(stderr, "%s: no test split evaluated; %s is the last epoch\n", avsl_progname(), t.model_path);
	if (t.lead)
		trainlog_close(&t.log);
	loader_close(t.train);
	if (t.test)
		loader_close(t.test);
	adamw_free(&t.opt);
	model_free(&t.m);
	avsl_device_close(t.dev);
	free(t.dir), free(t.last_path), free(t.model_path), free(t.log_path);
	free(t.train_path), free(t.test_path);
	return status;
}
