#!/usr/bin/env bash
# tests/bench/train_load.sh: avsl-train's throughput quiet and beside one competing CPU-bound process
# (`yes >/dev/null`), with the demo's model (pipelines/fashion-mnist.mk: cifar_resnet18 base width 16, 28x28 gray,
# D 128, batch 100) on synthetic 28x28 images. Three rows:
#   default (adaptive)   no --threads: all usable CPUs, fewer while other processes keep CPUs busy (the thread count
#                        follows the load, libcommon/thread_adapt.h; passive OpenMP wait, cli.h cli_omp_passive);
#   --threads 2 passive  a fixed count of 2 with the passive wait;
#   peer: spinning       --threads 2 with OpenMP's spinning wait (OMP_WAIT_POLICY=ACTIVE, libgomp's behaviour before
#                        avsl set a passive wait).
# The target: loaded >= 60% of quiet on 2 cores (a fair share of 2 cores beside one busy process is 67%).
# img/s: the trainer's own per-window figure (train.jsonl step lines, --log-every 2), median over the windows after
# the first (warm-up): the steady rate. The adaptive run changes its count after two 1.5 s samples (~3 s); the last
# column, the ratio of the whole epoch's img/s (its epoch line: warm-up and that transient included), shows the cost.
# WARM_UP (default 1, the demo's): with 1 and one epoch the trunk stays frozen (forward only, the heads train);
# WARM_UP=0 trains the whole network from the first step (the trunk's backward: the demo's later epochs).
# This VM's speed drifts by tens of percent over minutes, so quiet and loaded runs alternate REPS times and each cell
# is the median over the repetitions. Knobs: PER_CLASS (images per class, 5 classes), EPOCHS, REPS (default 3),
# WARM_UP. With 2 CPUs the default row and the --threads 2 row start from the same count.
set -u
: "${AVSL_BIN:=$(cd "$(dirname "$0")/../.." && pwd)/build/bin}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PER_CLASS=${PER_CLASS:-1000}
REPS=${REPS:-3}
EPOCHS=${EPOCHS:-1}
WARM_UP=${WARM_UP:-1}
T=$(mktemp -d)
trap 'kill $YES 2>/dev/null; rm -rf "$T"' EXIT
YES=
cc -O2 "$ROOT/pipelines/synth/mksynth.c" -o "$T/mksynth" -lm || exit 1
mkdir -p "$T/s" && "$T/mksynth" "$T/s" 5 "$PER_CLASS" 28 1 || exit 1
"$AVSL_BIN/avsl-prep" -q --layout idx --split train -o "$T/train.avs" "$T/s" || exit 1
FLAGS=(--data_path "$T/train.avs" --splits_to_eval train --arch cifar_resnet18 --base-width 16 --channels 1
	--input-size 28 --resize 0 --crop-scale 0.64 1 --mean 0.2860 --std 0.3530 --not_freeze_bn --embeddings_dim 128
	--batch_size 100 --test_batch_size 500 --warm_up "$WARM_UP" --seed 1 --lr_trunk 0.001 --lr_embedder 0.001
	--setting avsl_proxyanchor --topk_corr 32 --lr_collector 0.01 --log-every 2 --epochs "$EPOCHS")

median() { sort -g | awk '{v[NR] = $1} END{print NR == 0 ? 0 : NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# run POLICY THREADS LOAD: "median-window-img/s epoch-img/s" of one training run (THREADS 0: no --threads, the
# adaptive default)
# (run is called in a command substitution, a subshell: its own EXIT trap stops the competing process on every path)
run() {
	local dir=$T/run-$1-$2-$3 threads=()
	rm -rf "$dir"
	[ "$2" != 0 ] && threads=(--threads "$2")
	trap '[ -n "$YES" ] && kill "$YES" 2>/dev/null' EXIT
	[ "$3" = loaded ] && { yes >/dev/null & YES=$!; }
	OMP_WAIT_POLICY=$1 "$AVSL_BIN/avsl-train" -q "${FLAGS[@]}" "${threads[@]}" -o "$dir" ||
		{ echo "avsl-train failed" >&2; exit 1; }
	[ -n "$YES" ] && { kill "$YES"; wait "$YES" 2>/dev/null; YES=; }
	local steady whole
	steady=$(grep '"type":"step"' "$dir/train.jsonl" | sed 's/.*"img_s":\([0-9.e+-]*\).*/\1/' | tail -n +2 | median)
	whole=$(grep '"type":"epoch"' "$dir/train.jsonl" | sed 's/.*"img_s":\([0-9.e+-]*\).*/\1/' | median)
	echo "${steady:-0} ${whole:-0}"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-26s %10s %10s %8s %12s\n' "avsl-train" "quiet" "loaded" "ratio" "whole-epoch"
for row in "PASSIVE 0 default (adaptive)" "PASSIVE 2 --threads 2 (passive)" "ACTIVE 2 peer: spinning (active)"; do
	set -- $row
	policy=$1 threads=$2
	qs= ls= qw= lw=
	for r in $(seq "$REPS"); do
		out=$(run $policy $threads quiet) || exit 1
		set -- $out
		qs="$qs $1" qw="$qw $2"
		out=$(run $policy $threads loaded) || exit 1
		set -- $out
		ls="$ls $1" lw="$lw $2"
	done
	set -- $row
	shift 2
	q=$(echo $qs | tr ' ' '\n' | median) l=$(echo $ls | tr ' ' '\n' | median)
	qw=$(echo $qw | tr ' ' '\n' | median) lw=$(echo $lw | tr ' ' '\n' | median)
	awk -v n="$*" -v q="$q" -v l="$l" -v qw="$qw" -v lw="$lw" 'BEGIN{
		printf "%-26s %10.1f %10.1f %7.0f%% %11.0f%%\n", n, q, l, (q > 0 ? 100 * l / q : 0), (qw > 0 ? 100 * lw / qw : 0)}'
done
echo "(WARM_UP=$WARM_UP EPOCHS=$EPOCHS PER_CLASS=$PER_CLASS; quiet, loaded: steady img/s, medians of $REPS alternating repetitions; whole-epoch: loaded/quiet of the epochs' img/s; loaded = one 'yes >/dev/null' running beside it; $(nproc) CPUs, load average after $(cut -d' ' -f1-3 /proc/loadavg))"
