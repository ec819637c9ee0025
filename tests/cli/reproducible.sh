#!/usr/bin/env bash
# What is reproducible (README "Reproducibility", avsl-train(1)): the same binary with the same --threads on the same
# machine gives bit-identical checkpoints, embeddings and graphs, run after run (AVSL with trained BatchNorm, and the
# baseline). The data order and augmentations do not depend on the thread count: the first step's losses of a
# 1-thread and a 2-thread run agree to float rounding (1e-5 relative); later steps drift apart in the last bits
# (oneDNN and OpenBLAS split their sums by thread), so runs with different thread counts are not bit-identical.
. "$(dirname "$0")/lib.sh"
D=$T/synth
synth "$D" 6 24 16 2
avsl-prep -q --layout idx --split train --classes 0-2 -o "$D/train.avs" "$D"
avsl-prep -q --layout idx --split test --classes 3-5 -o "$D/test.avs" "$D"
TINY=(--arch cifar_resnet18 --base-width 8 --channels 1 --input-size 16 --resize 0 --crop-scale 0.6 1 --mean 0.2
	--std 0.3 --embeddings_dim 16 --topk_corr 4 --batch_size 24 --test_batch_size 36 --warm_up 1 --lr_trunk 1e-3
	--lr_embedder 1e-3 --lr_collector 1e-2 --not_freeze_bn --epochs 2 --log-every 1 --seed 3 -q --delete_old
	--data_path "$D/train.avs" --eval-data "$D/test.avs")

for setting in avsl_proxyanchor proxy_anchor; do
	for run in 1 2; do
		avsl-train "${TINY[@]}" --setting $setting --threads 2 -o "$T/$setting" 2>"$T/err" ||
			echo "FAIL reproducible_${setting}_train: $(head -c 300 "$T/err")"
		cp "$T/$setting/last.safetensors" "$T/$setting-last-$run"
		cp "$T/$setting/model.safetensors" "$T/$setting-model-$run"
		avsl-embed -q --threads 2 -m "$T/$setting/model.safetensors" -o "$T/$setting-$run.ave" "$D/test.avs"
		metric=(-m "$T/$setting/model.safetensors")
		[ $setting = proxy_anchor ] && metric=(--metric l2)
		avsl-graph -q --threads 2 "${metric[@]}" -o "$T/$setting-$run.avg" "$T/$setting-$run.ave"
	done
	check "reproducible_${setting}_checkpoint" "cmp $T/$setting-last-1 $T/$setting-last-2 && cmp $T/$setting-model-1 $T/$setting-model-2"
	check "reproducible_${setting}_embeddings_graph" "cmp $T/$setting-1.ave $T/$setting-2.ave && cmp $T/$setting-1.avg $T/$setting-2.avg"
done

# 1 thread against 2: the same first batch and augmentation, so the same first-step losses up to rounding
avsl-train "${TINY[@]}" --threads 1 -o "$T/one" 2>/dev/null
first() { grep -m1 '"type":"step"' "$1" | sed 's/.*"losses":{\([^}]*\)}.*/\1/' | tr ',' '\n' | sed 's/.*://'; }
paste <(first "$T/one/train.jsonl") <(first "$T/avsl_proxyanchor/train.jsonl") >"$T/first-steps"
check reproducible_threads_same_first_step "awk '{d = \$1 - \$2; if (d * d > (1e-5 * \$1) ^ 2) exit 1; n++} END{exit n != 4}' $T/first-steps"
