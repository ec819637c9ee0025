#!/usr/bin/env bash
# Crash tests: avsl-train killed (kill -9) or interrupted (SIGINT) at random moments, again and again on one run
# directory, always leaves loadable last/model checkpoints and a run that resumes; avsl-graph and avsl-prep
# killed at random moments leave either nothing or a complete output under the final name (never a partial file).
# The moments come from $RANDOM, seeded per run (the seed is printed on a failure).
. "$(dirname "$0")/lib.sh"
seed=${AVSL_CRASH_SEED:-$$}
RANDOM=$seed
D=$T/synth
synth "$D" 4 300 16 9
avsl-prep -q --layout idx --split train --per-class 12 -o "$D/train.avs" "$D"
avsl-prep -q --layout idx --split test --per-class 3 -o "$D/tiny.avs" "$D"
TR=(--data_path "$D/train.avs" --splits_to_eval train --arch cifar_resnet18 --base-width 4 --channels 1
	--input-size 16 --resize 0 --mean 0.2 --std 0.3 --embeddings_dim 16 --topk_corr 4 --batch_size 12
	--test_batch_size 48 --warm_up 0 --seed 4 --threads 1 --log-every 1)
R=$T/run

# loads CHECKPOINT: avsl-embed accepts it (every tensor and field read and checked)
loads() { avsl-embed -q -t 1 -m "$1" -o /dev/null "$D/tiny.avs" 2>>"$T/load.err"; }

# background jobs of a script start with SIGINT ignored: reset it so the trainer sees the signal
train_bg() { env --default-signal=INT avsl-train -q "$@" 2>>"$T/train.err" & }

bad=0 resumed=0 interrupted=0 killed=0
for i in $(seq 1 20); do
	if [ -f "$R/last.safetensors" ]; then
		train_bg --resume "$R/last.safetensors" --epochs 100000 -o "$R"
		resumed=$((resumed + 1))
	else
		train_bg "${TR[@]}" --epochs 100000 -o "$R"
	fi
	pid=$!
	# somewhere in the first second: during start-up, a step, or a checkpoint write
	sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
	if [ $((i % 2)) = 0 ]; then
		kill -9 $pid
		killed=$((killed + 1))
	else
		kill -INT $pid
	fi
	{ wait $pid; } 2>/dev/null
	st=$?
	if [ $((i % 2)) = 1 ]; then
		# SIGINT: exit 130 after saving last.safetensors (or 0 if it had not started training; never a temp left)
		if [ $st != 130 ]; then
			echo "FAIL crash_train_sigint_$i: exit status $st, expected 130 (seed $seed): $(tail -n 2 "$T/train.err")"
			bad=1
		fi
		interrupted=$((interrupted + 1))
		if compgen -G "$R/*.tmp.$pid.*" >/dev/null; then
			echo "FAIL crash_train_sigint_temp_$i: left $(ls "$R"/*.tmp.$pid.* | head -n 2) (seed $seed)"
			bad=1
		fi
	fi
	for ck in last model; do
		if [ -f "$R/$ck.safetensors" ] && ! loads "$R/$ck.safetensors"; then
			echo "FAIL crash_train_${ck}_loads_$i: $(tail -n 1 "$T/load.err") (seed $seed)"
			bad=1
		fi
	done
	[ $bad = 1 ] && break
done
[ $bad = 0 ] && echo "PASS crash_train_20_kills_and_interrupts"
check crash_train_left_checkpoints "[ -f $R/last.safetensors ] && [ -f $R/model.safetensors ]"
check crash_train_resumed_often "[ $resumed -ge 10 ]"
# the run still resumes and finishes: two more epochs from wherever it stopped
ep=$(/usr/bin/python3 -c "
import json, struct, sys
b = open('$R/last.safetensors', 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
print(json.loads(b[8:8 + n])['__metadata__']['avsl.epoch'])")
expect crash_train_resumes_to_the_end 0 empty '' -- avsl-train -q --resume "$R/last.safetensors" --epochs $((ep + 2)) -o "$R"
check crash_train_final_loads "avsl-embed -q -t 1 -m $R/last.safetensors -o /dev/null $D/tiny.avs"

# ms COMMAND...: run it, print its wall time in milliseconds (the kills below fall inside such a run)
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@"
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000 + 1))
}

# avsl-graph: a reference output, then kill -9 at random moments of a run: the output is absent or byte-identical
avsl-prep -q --layout idx --split test -o "$D/big.avs" "$D"
avsl-embed -q -t 1 -m "$R/last.safetensors" -o "$T/e.ave" "$D/big.avs"
G=(-q --threads 1 -m "$R/last.safetensors" -k 20 "$T/e.ave")
t=$(ms avsl-graph "${G[@]}" -o "$T/ref.avg")
bad=0 absent=0
for i in $(seq 1 10); do
	rm -f "$T"/g.avg*
	avsl-graph "${G[@]}" -o "$T/g.avg" &
	pid=$!
	sleep "$(awk -v t=$t -v r=$RANDOM 'BEGIN{printf "%.3f", t * (r % 1000) / 1000 / 1000}')"
	kill -9 $pid 2>/dev/null
	{ wait $pid; } 2>/dev/null
	if [ -e "$T/g.avg" ] && ! cmp -s "$T/g.avg" "$T/ref.avg"; then
		echo "FAIL crash_graph_$i: a partial $T/g.avg (seed $seed)"
		bad=1
	fi
	[ -e "$T/g.avg" ] || absent=$((absent + 1))
done
[ $bad = 0 ] && echo "PASS crash_graph_10_kills ($absent killed before the rename)"

# avsl-prep into shards and manifests: after kill -9 a manifest, when present, lists complete shards
P=(-q --layout idx --split both --shard-size 50 --threads 1 -o "$T/p" "$D")
t=$(ms avsl-prep "${P[@]}")
bad=0 absent=0
for i in $(seq 1 10); do
	rm -f "$T"/p-*
	avsl-prep "${P[@]}" &
	pid=$!
	sleep "$(awk -v t=$t -v r=$RANDOM 'BEGIN{printf "%.3f", t * (r % 1000) / 1000 / 1000}')"
	kill -9 $pid 2>/dev/null
	{ wait $pid; } 2>/dev/null
	for m in "$T/p-train.avsm" "$T/p-test.avsm"; do
		if [ -e "$m" ] && ! avsl-prep --verify "$m" >/dev/null 2>&1; then
			echo "FAIL crash_prep_$i: $m does not verify (seed $seed)"
			bad=1
		fi
	done
	[ -e "$T/p-test.avsm" ] || absent=$((absent + 1))
done
[ $bad = 0 ] && echo "PASS crash_prep_10_kills ($absent killed before the manifests)"
