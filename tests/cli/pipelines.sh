#!/usr/bin/env bash
# The experiment recipes on tiny inputs, so they cannot rot: the paper recipes (cub200.mk, cars196.mk, sop.mk) on a
# synthetic dataset with a tiny trunk (EXTRA_TRAIN overrides the official flags), their missing-input messages,
# and the demo recipe on a few Fashion-MNIST images per class when the Debian package is installed.
. "$(dirname "$0")/lib.sh"
cd "$AVSL_ROOT" || exit 1
D=$T/synth
synth "$D" 6 20 16 3
TINY="--arch cifar_resnet18 --base-width 8 --channels 1 --input-size 16 --resize 0 --epochs 1 --batch_size 16
--test_batch_size 32 --warm_up 0 --feature_dim_list 16 32 64 --embeddings_dim 16 --topk_corr 4 --threads 2 -q"
for r in cub200 cars196 sop; do
	expect "recipe_${r}_no_data" 2 - "DATA is not set" -- make -s -f pipelines/$r.mk BIN="$AVSL_BIN" OUT="$T/$r"
	expect "recipe_${r}_no_init" 2 - "INIT is not set" -- make -s -f pipelines/$r.mk BIN="$AVSL_BIN" DATA="$D" OUT="$T/$r"
	expect "recipe_${r}_init_missing" 2 - "no such file" -- make -s -f pipelines/$r.mk BIN="$AVSL_BIN" DATA="$D" \
		INIT="$T/none.safetensors" OUT="$T/$r"
	expect "recipe_$r" 0 - '' -- make -s -f pipelines/$r.mk BIN="$AVSL_BIN" DATA="$D" INIT=none OUT="$T/$r" \
		EXTRA_TRAIN="$TINY"
	check "recipe_${r}_results" "grep -q '^AVSL ' $T/$r/results.txt && grep -q '^Proxy-Anchor baseline ' $T/$r/results.txt"
	check "recipe_${r}_artefacts" "test -s $T/$r/avsl/model.safetensors && test -s $T/$r/avsl/test.avg && test -s $T/$r/baseline/test.ave"
done
check recipe_sop_recall_at_100 "grep -q 'R@100' $T/sop/results.txt"
check recipe_sop_slice_mean "grep -Eq '^AVSL +mean of [0-9]+ slices ' $T/sop/results.txt && grep -Eq '^Proxy-Anchor baseline +global ' $T/sop/results.txt"

if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
	expect demo_recipe_tiny 0 - '' -- make -s -f pipelines/fashion-mnist.mk BIN="$AVSL_BIN" OUT="$T/demo" \
		PER_CLASS=20 EPOCHS=1 THREADS=2
	check demo_recipe_table "grep -q 'AVSL (learned graph)' $T/demo/results.txt && grep -q 'train-avsl' $T/demo/results.txt"
	expect demo_recipe_faithfulness 0 - '' -- make -s -f pipelines/fashion-mnist.mk BIN="$AVSL_BIN" OUT="$T/demo" \
		PER_CLASS=20 EPOCHS=1 THREADS=2 PAIRS=4 SANITY_PAIRS=2 faithfulness
	check demo_recipe_faithfulness_table "grep -q '^avsl ' $T/demo/faithfulness.txt && grep -q '^random-l2 ' $T/demo/faithfulness.txt && grep -q '^## patch-blur insertion' $T/demo/faithfulness.txt"
	check demo_recipe_sanity_table "grep -q '^## trunk cascade' $T/demo/sanity.txt && grep -q '^verdict ' $T/demo/sanity.txt"
	check demo_recipe_pictures "test -s $T/demo/avsl/model.safetensors && test -s $T/demo/baseline/test.ave && test -s $T/demo/board.png && test -s $T/demo/pair.png && grep -q . $T/demo/pair.txt"
fi

# DEVICE and PRECISION reach the tools (make -n: the commands only): -d and --precision on train, embed and graph,
# a GPU list whole on the graph and its first GPU on the tools that run on one device; eval gets -d only
make -s -n -f pipelines/cub200.mk BIN="$AVSL_BIN" DATA="$D" INIT=none OUT="$T/dev" DEVICE=cuda:2,3 PRECISION=bf16 \
	>"$T/dev.txt" 2>&1
check recipe_device_train "grep 'avsl-train' '$T/dev.txt' | grep -q -- '-d cuda:2 --precision bf16'"
check recipe_device_embed "grep -q 'avsl-embed -q -d cuda:2 --precision bf16' '$T/dev.txt'"
check recipe_device_graph "grep -q 'avsl-graph -q -d cuda:2,3 --precision bf16' '$T/dev.txt'"
check recipe_device_eval "grep -q 'avsl-eval -d cuda:2 --json' '$T/dev.txt' && ! grep 'avsl-eval' '$T/dev.txt' | grep -q -- --precision"
make -s -n -f pipelines/fashion-mnist.mk BIN="$AVSL_BIN" OUT="$T/dev-demo" FMNIST="$T" DEVICE=cuda PRECISION=tf32 \
	>"$T/dev-demo.txt" 2>&1
check demo_recipe_device "grep 'avsl-train' '$T/dev-demo.txt' | grep -q -- '-d cuda --precision tf32' && grep -q 'avsl-embed -q -d cuda --precision tf32' '$T/dev-demo.txt' && grep -q 'avsl-graph -q -d cuda --precision tf32 --metric l2' '$T/dev-demo.txt'"
