#!/usr/bin/env bash
# avsl-train's thread count under a competing load (libcommon/thread_adapt.h, avsl-train(1) --threads): beside two
# busy processes (`yes`) the default, --threads 0, drops to fewer threads within a few seconds and says so with -v;
# an explicit --threads never changes. The synthetic set (250 steps an epoch) is big enough that each run is stopped
# (SIGINT) long before it ends: the adaptive one once it reports a change, the fixed one 5 s after its first step.
. "$(dirname "$0")/lib.sh"
D=$T/synth
synth "$D" 4 2000 16 2
avsl-prep -q --layout idx --split train -o "$D/train.avs" "$D"
RUN=(--data_path "$D/train.avs" --splits_to_eval train --arch cifar_resnet18 --base-width 8 --channels 1
	--input-size 16 --resize 0 --crop-scale 0.6 1 --mean 0.2 --std 0.3 --embeddings_dim 16 --topk_corr 4
	--batch_size 32 --warm_up 0 --seed 1 --epochs 3 --log-every 1 -v)
CHANGE='threads: ([0-9]+) -> ([0-9]+) \(other processes use [0-9.]+ CPU\)'
YES=()
trap 'kill "${YES[@]}" 2>/dev/null; rm -rf "$T"' EXIT
for _ in 1 2; do
	yes >/dev/null &
	YES+=($!)
done

# train_until DIR SECONDS [FLAGS...]: train in the background; stop it (SIGINT) when its stderr reports a thread
# change, SECONDS after its first step, or after 60 s
train_until() {
	local dir=$1 secs=$2 start=
	shift 2
	env --default-signal=INT avsl-train "${RUN[@]}" "$@" -o "$dir" 2>"$dir.err" &
	local pid=$!
	for _ in $(seq 600); do
		sleep 0.1
		kill -0 $pid 2>/dev/null || break
		grep -Eq "$CHANGE" "$dir.err" && break
		[ -z "$start" ] && grep -q '"type":"step"' "$dir/train.jsonl" 2>/dev/null && start=$SECONDS
		[ -n "$start" ] && [ $((SECONDS - start)) -ge "$secs" ] && break
	done
	kill -INT $pid 2>/dev/null
	wait $pid
}

if [ "$(nproc)" -ge 2 ]; then
	train_until "$T/adaptive" 30
	# the first change: to fewer threads than it started with
	check threads_default_adapts_to_load "grep -Eo '$CHANGE' '$T/adaptive.err' | head -n 1 |
		awk '{if (!(\$4 + 0 < \$2 + 0)) exit 1; n++} END{exit n != 1}'"
else
	echo "PASS threads_default_adapts_to_load # skipped: one usable CPU, nothing to adapt"
fi
train_until "$T/fixed" 5 --threads 2
check threads_fixed_never_adapts "grep -q '2 threads ->' '$T/fixed.err' && grep -q '\"type\":\"step\"' '$T/fixed/train.jsonl' &&
	! grep -q 'threads: ' '$T/fixed.err'"
kill "${YES[@]}" 2>/dev/null
wait "${YES[@]}" 2>/dev/null
YES=()
