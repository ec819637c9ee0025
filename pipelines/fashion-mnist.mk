# pipelines/fashion-mnist.mk: the demo. Zero-shot retrieval on Fashion-MNIST (Debian's dataset-fashion-mnist):
# train on classes 0-4, retrieve among the never-seen classes 5-9, AVSL against the Proxy-Anchor baseline with the
# same trunk, data and budget, on the CPU. `make demo` runs it; every artefact lands in $(OUT).
#
#   make -f pipelines/fashion-mnist.mk [PER_CLASS=3000] [EPOCHS=4] [SEED=1] [THREADS=nproc] [OUT=demo-run] [NP=1]
#       [DEVICE=cuda] [PRECISION=bf16]
#   make -f pipelines/fashion-mnist.mk faithfulness [PAIRS=50] [SANITY_PAIRS=20]   (after the above: are the
#       attribution maps faithful, and do they pass the sanity checks? see avsl-explain(1))
#
# PER_CLASS training images per class and EPOCHS set the budget (the defaults finish in well under 15 minutes on
# 2 cores); the test split is always the full 5000 images of classes 5-9.
FMNIST    ?= /usr/share/datasets/fashion-mnist
OUT       ?= demo-run
BIN       ?= build/bin
PER_CLASS ?= 3000
EPOCHS    ?= 4
SEED      ?= 1
# An explicit thread count (all usable CPUs, as `nproc` counts them): the table is reproducible only for a fixed
# count (README, Reproducibility); THREADS=0 lets avsl-train use fewer threads while other processes are busy.
THREADS   ?= $(shell nproc)
K         ?= 1,2,4,8
# NP > 1: train, embed and build the graphs under mpirun -np NP (THREADS is then per rank)
NP        ?= 1
MPIRUN    ?= mpirun
MPIRUN_FLAGS ?=
LAUNCH    := $(if $(filter-out 1,$(NP)),$(MPIRUN) -np $(NP) $(MPIRUN_FLAGS))
# DEVICE: -d of train, embed, graph and eval (empty: AVSL_DEVICE, else auto; a GPU list cuda:0,1,... splits the
# graphs' queries, the other tools take its first GPU); PRECISION: --precision of train, embed and graph (fp32, tf32,
# bf16 or auto; empty: fp32). E.g. DEVICE=cuda PRECISION=bf16. avsl-explain keeps its default device.
DEVICE    ?=
PRECISION ?=
comma     := ,
DEV       := $(if $(DEVICE),-d $(DEVICE))
DEV1      := $(if $(DEVICE),-d $(firstword $(subst $(comma), ,$(DEVICE))))
PREC      := $(if $(PRECISION),--precision $(PRECISION))

# Small-image settings shared by both models: a CIFAR-style ResNet-18 (base width 16) on 28x28 gray images,
# trained from scratch, so BN is trained too (--not_freeze_bn; the frozen default is for ImageNet weights); with
# NP > 1 over the whole batch (--sync-bn), as one process.
TRUNK := --arch cifar_resnet18 --base-width 16 --channels 1 --input-size 28 --resize 0 --crop-scale 0.64 1 \
	--mean 0.2860 --std 0.3530 --not_freeze_bn --embeddings_dim 128 --batch_size 100 --test_batch_size 500 \
	--epochs $(EPOCHS) --warm_up 1 --step 2 --gamma 0.5 --wd 0.0001 --seed $(SEED) --threads $(THREADS) \
	--lr_trunk 0.001 --lr_embedder 0.001 $(if $(LAUNCH),--sync-bn)
AVSL_FLAGS := --setting avsl_proxyanchor --topk_corr 32 --avsl_m 0.5 --prob_gamma 10 --index_p 2 \
	--pa_pos_margin 1.8 --pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 \
	--final_pa_alpha 16 --loss0_weight 1 --loss1_weight 1 --loss2_weight 1 --lr_collector 0.01
BASE_FLAGS := --setting proxy_anchor --proxyanchor_margin 0.1 --proxyanchor_alpha 32 --lr_collector 0.01

.PHONY: all check-inputs faithfulness
.DELETE_ON_ERROR:
# Every artefact is a result worth keeping: no intermediate file of a pattern rule is deleted at the end.
.SECONDARY:
all: $(OUT)/results.txt $(OUT)/board.png $(OUT)/pair.png
	@cat $(OUT)/results.txt
	@echo
	@echo "attribution (avsl-explain): $(OUT)/pair.txt, $(OUT)/pair.png (query 0 and its nearest neighbour)"
	@echo "retrieval board: $(OUT)/board.png (query 0 and its 8 nearest by the AVSL distance)"
	@sed -n '1,/^level 0/p' $(OUT)/pair.txt | head -n 4

check-inputs:
	@test -f $(FMNIST)/train-images-idx3-ubyte.gz || { echo "fashion-mnist.mk: $(FMNIST) has no Fashion-MNIST; install it with: apt-get install dataset-fashion-mnist (or run make deps)" >&2; exit 1; }
	@test -x $(BIN)/avsl-train || { echo "fashion-mnist.mk: $(BIN)/avsl-train is missing; run make first" >&2; exit 1; }

# Each stage records its wall time in $(OUT)/time/<stage> for the results table.
TIMED = mkdir -p $(OUT)/time; s=$$(date +%s.%N); $(1) && awk -v a=$$(date +%s.%N) -v b=$$s 'BEGIN{printf "%.1f\n", a - b}' > $(OUT)/time/$(2)

$(OUT)/train.avs: | check-inputs
	@mkdir -p $(OUT)
	$(call TIMED,$(BIN)/avsl-prep -q --layout idx --split train --classes 0-4 --per-class $(PER_CLASS) -o $@ $(FMNIST),prep-train)
$(OUT)/test.avs: | check-inputs
	@mkdir -p $(OUT)
	$(call TIMED,$(BIN)/avsl-prep -q --layout idx --split test --classes 5-9 -o $@ $(FMNIST),prep-test)

$(OUT)/%/model.safetensors: $(OUT)/train.avs
	@echo "fashion-mnist.mk: training $* ($(EPOCHS) epochs of $$(( $(PER_CLASS) * 5 )) images)" >&2
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-train $(DEV1) $(PREC) --delete_old --data_path $< --splits_to_eval train -o $(OUT)/$* $(TRUNK) \
		$(if $(filter avsl,$*),$(AVSL_FLAGS),$(BASE_FLAGS)),train-$*)

$(OUT)/%/test.ave: $(OUT)/%/model.safetensors $(OUT)/test.avs
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-embed -q $(DEV1) $(PREC) -m $< -o $@ $(OUT)/test.avs,embed-$*)

# AVSL: the learned distance; the same embeddings under the plain multi-level distance (what the graph adds);
# the baseline: Euclidean distance of its L2-normalised embeddings.
$(OUT)/avsl/test.avg: $(OUT)/avsl/test.ave
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-graph -q $(DEV) $(PREC) -m $(OUT)/avsl/model.safetensors -o $@ $<,graph-avsl)
$(OUT)/avsl/levels.avg: $(OUT)/avsl/test.ave
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-graph -q $(DEV) $(PREC) --metric levels -o $@ $<,graph-levels)
$(OUT)/baseline/test.avg: $(OUT)/baseline/test.ave
	$(call TIMED,$(LAUNCH) $(BIN)/avsl-graph -q $(DEV) $(PREC) --metric l2 -o $@ $<,graph-baseline)

# Are the attribution maps faithful? Deletion/insertion of every method (avsl, cam-last, grad, per level) against
# random controls with the maps' own smoothness, in pixels and cells, with mean and blur fills, means with bootstrap
# intervals; then the cascading-randomisation sanity checks. On the demo's test classes; both tables are written to
# $(OUT)/faithfulness.txt and $(OUT)/sanity.txt and printed.
PAIRS ?= 50
SANITY_PAIRS ?= 20
faithfulness: $(OUT)/faithfulness.txt $(OUT)/sanity.txt
	@cat $(OUT)/faithfulness.txt
	@echo
	@cat $(OUT)/sanity.txt
$(OUT)/faithfulness.txt: $(OUT)/avsl/model.safetensors $(OUT)/test.avs
	$(call TIMED,$(BIN)/avsl-explain faithfulness -q -m $< --shard $(OUT)/test.avs --pairs $(PAIRS) -o $@,faithfulness)
$(OUT)/sanity.txt: $(OUT)/avsl/model.safetensors $(OUT)/test.avs
	$(call TIMED,$(BIN)/avsl-explain sanity -q -m $< --shard $(OUT)/test.avs --pairs $(SANITY_PAIRS) -o $@,sanity)

# Attribution: the decomposition of one pair's distance with its CAM heat maps, and a retrieval board.
$(OUT)/pair.png: $(OUT)/avsl/test.avg
	$(call TIMED,$(BIN)/avsl-explain -q -m $(OUT)/avsl/model.safetensors --shard $(OUT)/test.avs --graph $< \
		--query 0 --rank 1 --png $@ -o $(OUT)/pair.txt,explain-pair)
$(OUT)/board.png: $(OUT)/avsl/test.avg
	$(call TIMED,$(BIN)/avsl-explain board -q -m $(OUT)/avsl/model.safetensors --shard $(OUT)/test.avs \
		--graph $< --query 0 -k 8 --png $@,explain-board)

$(OUT)/%.json: $(OUT)/%.avg
	$(BIN)/avsl-eval $(DEV1) --json -k $(K) $< > $@

$(OUT)/results.txt: $(OUT)/baseline/test.json $(OUT)/avsl/levels.json $(OUT)/avsl/test.json
	pipelines/results-table.sh $(OUT) "Fashion-MNIST zero-shot (train 0-4: $(PER_CLASS)/class x $(EPOCHS) epochs; test 5-9: 5000)" \
		"Proxy-Anchor baseline=baseline/test.json" "AVSL embeddings, plain levels=avsl/levels.json" \
		"AVSL (learned graph)=avsl/test.json" > $@.tmp && mv $@.tmp $@
