# pipelines/paper.mk: the recipe behind cub200.mk, cars196.mk and sop.mk (which set the dataset's flags and include
# this file). It reproduces one row pair of the paper's table: prep, train the Proxy-Anchor baseline and AVSL with
# the official hyper-parameters (avsl-method.md §8), embed, graph, eval, and a results table, all in $(OUT).
#
#   make -f pipelines/cub200.mk DATA=/data/cub200 INIT=resnet50.safetensors [OUT=runs/cub200] [THREADS=0]
#
# Variables: DATA (dataset root: ImageFolder train/ and test/, or the raw release; see avsl-prep(1)), INIT (ImageNet
# ResNet-50 weights as safetensors with torchvision names; INIT=none trains from scratch), OUT, BIN (tools),
# THREADS, EXTRA_TRAIN (flags appended to both training commands: they override the official ones, e.g. --epochs),
# PREP_FLAGS (extra avsl-prep flags), DEVICE (-d of every tool; empty: AVSL_DEVICE, else auto; DEVICE=cuda:0,1,...
# splits the graph's queries over those GPUs, the other tools use the first), PRECISION (--precision of avsl-train,
# avsl-embed and avsl-graph: fp32, tf32, bf16 or auto; empty: the tools' default, fp32), NP (ranks: NP=8
# runs training, embedding and the graph under `mpirun -np 8 $(MPIRUN_FLAGS)`; THREADS is then per rank; see
# avsl-train(1), DISTRIBUTED).
BIN         ?= build/bin
NP          ?= 1
MPIRUN      ?= mpirun
MPIRUN_FLAGS ?=
LAUNCH      := $(if $(filter-out 1,$(NP)),$(MPIRUN) -np $(NP) $(MPIRUN_FLAGS))
# the official runs are one process: with NP > 1, a trained BN (SOP's --not_freeze_bn) normalises by the whole batch
SYNC_BN      = $(if $(LAUNCH),$(if $(findstring --not_freeze_bn,$(1)),--sync-bn))
THREADS     ?= 0
DEVICE      ?=
PRECISION   ?=
DEV         := $(if $(DEVICE),-d $(DEVICE))
# one device for the tools that run on one: the first of a GPU list (cuda:0,1 -> cuda:0)
comma       := ,
DEV1        := $(if $(DEVICE),-d $(firstword $(subst $(comma), ,$(DEVICE))))
PREC        := $(if $(PRECISION),--precision $(PRECISION))
EXTRA_TRAIN ?=
PREP_FLAGS  ?=
INIT        ?=
DATA        ?=

ifeq ($(INIT),none)
INIT_FLAG :=
else
INIT_FLAG := --init $(INIT)
endif

.PHONY: all check-inputs prep baseline avsl
.DELETE_ON_ERROR:
# Every artefact is a result worth keeping: no intermediate file of a pattern rule is deleted at the end.
.SECONDARY:
all: $(OUT)/results.txt
	@cat $(OUT)/results.txt

check-inputs:
	@test -n "$(DATA)" || { echo "$(NAME).mk: DATA is not set: DATA=/path/to/$(NAME) ($(DATA_HELP))" >&2; exit 1; }
	@test -d "$(DATA)" || { echo "$(NAME).mk: DATA=$(DATA): no such directory ($(DATA_HELP))" >&2; exit 1; }
	@test -n "$(INIT)" || { echo "$(NAME).mk: INIT is not set: INIT=resnet50.safetensors, ImageNet weights with torchvision names (README: 'ImageNet weights'); INIT=none trains from scratch" >&2; exit 1; }
	@test "$(INIT)" = none || test -f "$(INIT)" || { echo "$(NAME).mk: INIT=$(INIT): no such file; make it with the Python snippet in README.md ('ImageNet weights')" >&2; exit 1; }
	@test -x $(BIN)/avsl-train || { echo "$(NAME).mk: $(BIN)/avsl-train is missing; run make first" >&2; exit 1; }

TIMED = mkdir -p $(OUT)/time; s=$$(date +%s.%N); $(1) && awk -v a=$$(date +%s.%N) -v b=$$s 'BEGIN{printf "%.1f\n", a - b}' > $(OUT)/time/$(2)

prep: $(OUT)/data/ds-train.avsm $(OUT)/data/ds-test.avsm
$(OUT)/data/ds-train.avsm $(OUT)/data/ds-test.avsm &: | check-inputs
	@mkdir -p $(OUT)/data
	$(call TIMED,$(BIN)/avsl-prep -q --split both --shard-size 2000 $(PREP_FLAGS) -o $(OUT)/data/ds $(DATA),prep)

COMMON_TRAIN = --data_path $(OUT)/data/ds-train.avsm --eval-data $(OUT)/data/ds-test.avsm $(DEV1) $(PREC) \
	--threads $(THREADS) $(INIT_FLAG) --delete_old

$(OUT)/baseline/model.safetensors: $(OUT)/data/ds-train.avsm
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-train $(BASELINE_FLAGS) $(COMMON_TRAIN) $(call SYNC_BN,$(BASELINE_FLAGS)) -o $(OUT)/baseline $(EXTRA_TRAIN),train-baseline)
$(OUT)/avsl/model.safetensors: $(OUT)/data/ds-train.avsm
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-train $(AVSL_FLAGS) $(COMMON_TRAIN) $(call SYNC_BN,$(AVSL_FLAGS)) -o $(OUT)/avsl $(EXTRA_TRAIN),train-avsl)
baseline: $(OUT)/baseline/model.safetensors
avsl: $(OUT)/avsl/model.safetensors

$(OUT)/%/test.ave: $(OUT)/%/model.safetensors $(OUT)/data/ds-test.avsm
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-embed -q $(DEV1) $(PREC) -m $< -o $@ $(OUT)/data/ds-test.avsm,embed-$*)
$(OUT)/avsl/test.avg: $(OUT)/avsl/test.ave
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-graph -q $(DEV) $(PREC) -m $(OUT)/avsl/model.safetensors -k $(GRAPH_K) -o $@ $<,graph-avsl)
$(OUT)/baseline/test.avg: $(OUT)/baseline/test.ave
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-graph -q $(DEV) $(PREC) --metric l2 -k $(GRAPH_K) -o $@ $<,graph-baseline)
$(OUT)/%/test.json: $(OUT)/%/test.avg
	$(BIN)/avsl-eval $(DEV1) --json -k $(K_LIST) $(EVAL_FLAGS) $< > $@

# Each row shows the figure the paper reports: global, or with AVSL_FIGURE=@slices (sop.mk) AVSL's slice mean.
$(OUT)/results.txt: $(OUT)/baseline/test.json $(OUT)/avsl/test.json
	pipelines/results-table.sh $(OUT) "$(TITLE)" "Proxy-Anchor baseline=baseline/test.json" \
		"AVSL=avsl/test.json$(AVSL_FIGURE)" > $@.tmp && mv $@.tmp $@
