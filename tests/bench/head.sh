#!/usr/bin/env bash
# tests/bench/head.sh: the cost of the AVSL head. avsl-train's training step with the AVSL head (avsl_proxyanchor:
# CAMs, certainties, links, collector, 3 losses) against the baseline's step (proxy_anchor: one embedding, one
# loss) on the same trunk, batch and data: the demo's model (pipelines/fashion-mnist.mk: cifar_resnet18 base width
# 16, 28x28 gray, D 128, batch 100, the demo's AVSL and baseline flags) on synthetic 28x28 images, --threads 2,
# --warm_up 0 so that the trunk trains too (as in every demo epoch after the first).
# Step time = batch / img/s, img/s being the trainer's own per-window figure (train.jsonl step lines, --log-every 2),
# median over the windows after the first (warm-up). The two settings alternate REPS times (this shared VM's speed
# drifts) and each cell is the median over the repetitions. Target (issue 14): AVSL step <= 1.15x the baseline's.
# Knobs: PER_CLASS (images per class, 5 classes; default 300, 15 steps), REPS (default 3).
set -u
: "${AVSL_BIN:=$(cd "$(dirname "$0")/../.." && pwd)/build/bin}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PER_CLASS=${PER_CLASS:-300}
REPS=${REPS:-3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cc -O2 "$ROOT/pipelines/synth/mksynth.c" -o "$T/mksynth" -lm || exit 1
mkdir -p "$T/s" && "$T/mksynth" "$T/s" 5 "$PER_CLASS" 28 1 || exit 1
"$AVSL_BIN/avsl-prep" -q --layout idx --split train -o "$T/train.avs" "$T/s" || exit 1
TRUNK=(--data_path "$T/train.avs" --splits_to_eval train --arch cifar_resnet18 --base-width 16 --channels 1
	--input-size 28 --resize 0 --crop-scale 0.64 1 --mean 0.2860 --std 0.3530 --not_freeze_bn --embeddings_dim 128
	--batch_size 100 --test_batch_size 500 --epochs 1 --warm_up 0 --seed 1 --threads 2 --lr_trunk 0.001
	--lr_embedder 0.001 --log-every 2)
AVSL=(--setting avsl_proxyanchor --topk_corr 32 --avsl_m 0.5 --prob_gamma 10 --index_p 2 --pa_pos_margin 1.8
	--pa_neg_margin 2.2 --pa_alpha 16 --final_pa_pos_margin 1.8 --final_pa_neg_margin 2.2 --final_pa_alpha 16
	--loss0_weight 1 --loss1_weight 1 --loss2_weight 1 --lr_collector 0.01)
BASE=(--setting proxy_anchor --proxyanchor_margin 0.1 --proxyanchor_alpha 32 --lr_collector 0.01)

median() { sort -g | awk '{v[NR] = $1} END{if (NR == 0) print 0; else print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# run NAME FLAGS...: median img/s of one training run
run() {
	local dir=$T/run-$1
	shift
	rm -rf "$dir"
	"$AVSL_BIN/avsl-train" -q "${TRUNK[@]}" "$@" -o "$dir" || { echo "avsl-train failed" >&2; exit 1; }
	grep '"type":"step"' "$dir/train.jsonl" | sed 's/.*"img_s":\([0-9.e+-]*\).*/\1/' | tail -n +2 | median
}
as= bs=
for r in $(seq "$REPS"); do
	as="$as $(run avsl "${AVSL[@]}")" || exit 1
	bs="$bs $(run base "${BASE[@]}")" || exit 1
done
a=$(echo $as | tr ' ' '\n' | median)
b=$(echo $bs | tr ' ' '\n' | median)
awk -v a="$a" -v b="$b" 'BEGIN {
	printf "%-44s %10s %12s\n", "training step, demo model, batch 100", "img/s", "step (ms)"
	printf "%-44s %10.1f %12.1f\n", "baseline (proxy_anchor)", b, (b > 0 ? 100000 / b : 0)
	printf "%-44s %10.1f %12.1f\n", "AVSL (avsl_proxyanchor)", a, (a > 0 ? 100000 / a : 0)
	printf "%-44s %10.2fx %11s\n", "ratio AVSL step / baseline step (target <= 1.15)", (a > 0 ? b / a : 0), ""
}'
echo "(median of $REPS alternating repetitions, each the median of its step windows; avsl-train --threads 2; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
