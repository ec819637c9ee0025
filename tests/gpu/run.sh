#!/usr/bin/env bash
# tests/gpu/run.sh: the one prepared check of avsl on a GPU host (issue 13, item 8). Builds the tree, runs every row
# below under its own timeout within one overall budget (GPU_BUDGET_S, default 450 s: under 8 minutes with the build
# of an already built tree), and prints one table:
#
#   make check-cuda          the whole suite with AVSL_DEVICE=cuda (run last, in the time left; a timeout prints
#                            the cases seen so far)
#   cpu-vs-cuda epoch        one epoch of the synthetic set (tiny cifar_resnet18 AVSL model) trained with -d cpu and
#                            -d cuda: the epoch's four losses (relative difference, pass at <= 1e-3: a handful of
#                            steps, convolutions summed in another order), then each model's embeddings of the test
#                            split (devdiff.py ave, 1e-3) and their avsl graphs (the same neighbour sets)
#   train fp32/tf32/bf16     ResNet-50 at 224 px, batch 180, 6 steps of synthetic 1-channel images: the median of the
#                            trainer's per-step img/s after the first step, and its share of the GPU's dense peak
#                            (24.5 GFLOP per image: 3 x 2 x 4.09 GMAC forward); the epoch's data-wait share when
#                            the trainer reports one
#   torch bf16               the same ResNet-50 trunk step in PyTorch (channels_last, autocast bf16), when torch
#                            with CUDA imports (tests/gpu/torch_step.py); else the line says why
#   embed fp32/tf32          avsl-embed of 3,600 vs 360 images of 224 px: img/s from the difference (start-up cancels)
#   graph fp32/tf32          avsl-graph (avsl metric, D = 512, 3 levels, top-k 128) of 16,384 vs 4,096 synthetic
#                            items (tests/gpu/mkemb.c): pairs/s from the difference
#   graph 60,502             the wall time of the exact 60,502 x 60,502 graph (SOP's test size), whole command
#   peak device memory       the largest memory.used nvidia-smi saw during the run (sampled every 200 ms)
#
# A tool that refuses (-d cuda without an implementation, --precision bf16 without kernels) makes its row print
# "refused: <its message>"; a row over its time prints "timeout". Without a GPU (no nvidia-smi, or it lists none)
# nothing is built or run: every row says so, and the script still prints the table (tests/cli/gpu_script.sh checks
# that). Environment: GPU_BUDGET_S (450), GPU_WORK (a scratch folder, default a new one under /tmp, removed),
# GPU_BUILD_S (240), GPU_CHECK_S (the most check-cuda gets, 240).
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BIN=${GPU_BIN:-$ROOT/build/bin} # (GPU_BIN: other tools, e.g. build/cuda-emu/bin to try the script without a GPU)
BUDGET=${GPU_BUDGET_S:-450}
START=$(date +%s)
W=${GPU_WORK:-$(mktemp -d /tmp/avsl-gpu.XXXXXX)}
mkdir -p "$W"
SMI_PID=
cleanup() {
	[ -n "$SMI_PID" ] && kill "$SMI_PID" 2>/dev/null
	[ -z "${GPU_WORK:-}" ] && rm -rf "$W"
}
trap cleanup EXIT

# ---- the table: rows collected in order, printed at the end
declare -a ROWS
row() { ROWS+=("$(printf '| %-22s | %-40s | %s |' "$1" "$2" "$3")"); }
left() { echo $((BUDGET - ($(date +%s) - START))); }
# limit WANT: seconds a step may take (WANT, or what is left less a reserve for the table); 0 when out of time
limit() {
	local l=$(($(left) - 15))
	[ "$l" -gt "$1" ] && l=$1
	[ "$l" -lt 10 ] && l=0
	echo "$l"
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { sort -g | awk '{v[NR] = $1} END { print NR == 0 ? "" : NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# why STATUS ERRFILE LIMIT: the reason a step gave no figure
why() {
	if [ "$1" = 124 ] || [ "$1" = 137 ]; then
		echo "timeout after $3 s"
	elif [ "$1" = 1 ] && [ -s "$2" ] && [ "$(wc -l <"$2")" -le 2 ]; then
		echo "refused: $(head -n 1 "$2" | cut -c1-160)"
	else
		echo "failed (exit $1): $(tail -n 1 "$2" 2>/dev/null | cut -c1-140)"
	fi
}

# two_runs LIMIT SMALL LARGE CMD...: CMD SMALL, then (if it succeeded) CMD LARGE, each under the limit; sets RC,
# T_SMALL and T_LARGE (seconds), stderr in $W/two.err. A rate from the difference cancels the start-up.
two_runs() {
	local t=$1 small=$2 large=$3 a b c
	shift 3
	a=$(now)
	timeout -k 5 "$t" "$@" "$small" 2>"$W/two.err"
	RC=$?
	b=$(now)
	[ "$RC" = 0 ] && { timeout -k 5 "$t" "$@" "$large" 2>"$W/two.err"; RC=$?; }
	c=$(now)
	T_SMALL=$(secs "$a" "$b")
	T_LARGE=$(secs "$b" "$c")
}

print_table() {
	echo
	echo "avsl GPU check ($(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(($(date +%s) - START)) s of $BUDGET)"
	echo "GPU: $GPU_NAME"
	printf '| %-22s | %-40s | %s |\n' "row" "result" "notes"
	printf '|%s|%s|%s|\n' "------------------------" "------------------------------------------" "-------"
	for r in "${ROWS[@]}"; do echo "$r"; done
}

GPU_NAME=none
if command -v nvidia-smi >/dev/null 2>&1; then
	GPU_NAME=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
	[ -z "$GPU_NAME" ] && GPU_NAME=none
fi

TORCH=$(timeout 60 /usr/bin/python3 tests/gpu/torch_step.py check 2>&1 | tail -n 1)
[ -z "$TORCH" ] && TORCH="torch check failed (no /usr/bin/python3?)"

if [ "$GPU_NAME" = none ]; then
	nogpu="no GPU (nvidia-smi missing or lists none)"
	for r in "make check-cuda" "cpu-vs-cuda epoch" "train fp32" "train tf32" "train bf16" "embed fp32" \
		"embed tf32" "graph fp32" "graph tf32" "graph 60,502 fp32" "graph 60,502 tf32" "peak device memory"; do
		row "$r" "skipped" "$nogpu"
	done
	row "torch bf16" "not run" "$TORCH"
	GPU_NAME="none: nothing was run on a GPU"
	print_table
	exit 0
fi

# dense peak TFLOP/s (fp32 / tf32 / bf16, without sparsity) of the GPUs this script knows, from NVIDIA's data sheets
case $GPU_NAME in
*H200* | *H100*SXM* | *"H100 80GB HBM3"*) PEAK="67 495 989" ;;
*H100*) PEAK="51 378 756" ;;
*A100*) PEAK="19.5 156 312" ;;
*L40S*) PEAK="91.6 183 362" ;;
*A10*) PEAK="31.2 62.5 125" ;;
*) PEAK="" ;;
esac
peak_of() { # PRECISION -> TFLOP/s or empty
	[ -z "$PEAK" ] && return
	set -- "$1" $PEAK
	case $1 in fp32) echo "$2" ;; tf32) echo "$3" ;; bf16) echo "$4" ;; esac
}

# peak device memory: sampled in the background for the whole run
timeout $((BUDGET + 60)) nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$W/smi.txt" 2>/dev/null &
SMI_PID=$!

# ---- build
t=$(limit "${GPU_BUILD_S:-240}")
b0=$(now)
if [ "$t" -gt 0 ] && timeout -k 5 "$t" make -j"$(nproc)" all >"$W/build.log" 2>&1; then
	BUILD_NOTE="make all: $(secs "$b0" "$(now)") s"
else
	row "build" "FAILED" "$(why $? "$W/build.log" "$t")"
	row "torch bf16" "not run" "$TORCH"
	print_table
	exit 1
fi
row "build" "ok" "$BUILD_NOTE"
export AVSL_DEVICE=cuda

# ---- data: synthetic images (pipelines/synth/mksynth.c) and embeddings (tests/gpu/mkemb.c)
cc -O2 pipelines/synth/mksynth.c -o "$W/mksynth" -lm &&
	cc -std=gnu11 -O2 -Iformats tests/gpu/mkemb.c build/libavsl.a -lm -o "$W/mkemb" || {
	row "data" "FAILED" "cannot build mksynth/mkemb"
	print_table
	exit 1
}
mkdir -p "$W/tiny" "$W/big"
"$W/mksynth" "$W/tiny" 4 12 16 3 && "$W/mksynth" "$W/big" 6 600 224 7 || { row "data" "FAILED" "mksynth"; print_table; exit 1; }
P=("$BIN/avsl-prep" -q --layout idx --split train)
"${P[@]}" --classes 0-1 -o "$W/tiny-train.avs" "$W/tiny" &&
	"$BIN/avsl-prep" -q --layout idx --split test --classes 2-3 -o "$W/tiny-test.avs" "$W/tiny" &&
	"${P[@]}" --per-class 180 -o "$W/train224.avs" "$W/big" &&
	"${P[@]}" -o "$W/embed3600.avs" "$W/big" &&
	"${P[@]}" --per-class 60 -o "$W/embed360.avs" "$W/big" || { row "data" "FAILED" "avsl-prep"; print_table; exit 1; }

# ---- cpu-vs-cuda: one epoch of the synthetic set on each device
TINY=(--data_path "$W/tiny-train.avs" --arch cifar_resnet18 --base-width 2 --channels 1 --input-size 16 --resize 0
	--mean 0.2 --std 0.3 --embeddings_dim 8 --topk_corr 3 --batch_size 12 --warm_up 0 --epochs 1 --seed 5
	--threads 4 --delete_old -q)
t=$(limit 90)
if [ "$t" = 0 ]; then
	row "cpu-vs-cuda epoch" "skipped" "out of time"
elif ! timeout -k 5 "$t" "$BIN/avsl-train" "${TINY[@]}" -d cpu -o "$W/eq-cpu" 2>"$W/eq-cpu.err"; then
	row "cpu-vs-cuda epoch" "cpu run failed" "$(why $? "$W/eq-cpu.err" "$t")"
else
	timeout -k 5 "$t" "$BIN/avsl-train" "${TINY[@]}" -d cuda -o "$W/eq-cuda" 2>"$W/eq-cuda.err"
	rc=$?
	if [ "$rc" != 0 ]; then
		row "cpu-vs-cuda epoch" "$(why "$rc" "$W/eq-cuda.err" "$t")" "avsl-train -d cuda"
	else
		losses=$(/usr/bin/python3 - "$W/eq-cpu/train.jsonl" "$W/eq-cuda/train.jsonl" <<'PY'
import json, sys
ep = [[json.loads(l) for l in open(p) if '"type":"epoch"' in l][-1]["losses"] for p in sys.argv[1:]]
print("%.3g" % max(abs(ep[0][k] - ep[1][k]) / max(abs(ep[0][k]), 1e-30) for k in ep[0]))
PY
)
		"$BIN/avsl-embed" -q -d cpu -m "$W/eq-cpu/model.safetensors" "$W/tiny-test.avs" -o "$W/eq-cpu.ave" &&
			"$BIN/avsl-embed" -q -d cuda -m "$W/eq-cuda/model.safetensors" "$W/tiny-test.avs" -o "$W/eq-cuda.ave" \
				2>"$W/eq-embed.err"
		erc=$?
		emb=$( [ "$erc" = 0 ] && /usr/bin/python3 tests/cli/devdiff.py ave "$W/eq-cpu.ave" "$W/eq-cuda.ave" 1e-3 2>&1 |
			tail -n 1)
		"$BIN/avsl-graph" -q -d cpu -m "$W/eq-cpu/model.safetensors" -k 5 "$W/eq-cpu.ave" -o "$W/eq-cpu.avg" &&
			"$BIN/avsl-graph" -q -d cuda -m "$W/eq-cuda/model.safetensors" -k 5 "$W/eq-cuda.ave" -o "$W/eq-cuda.avg"
		grf=$( [ "$erc" = 0 ] && /usr/bin/python3 tests/cli/devdiff.py avg "$W/eq-cpu.avg" "$W/eq-cuda.avg" 1e-3 2>&1 |
			tail -n 1)
		verdict=FAIL
		awk -v l="$losses" 'BEGIN { exit !(l != "" && l <= 1e-3) }' && [[ $emb == max_rel=* ]] &&
			[[ $grf == max_rel=* ]] && verdict=PASS
		row "cpu-vs-cuda epoch" "$verdict" "losses max rel ${losses:-?} (<= 1e-3); embeddings ${emb:-not run}; graph ${grf:-not run}"
	fi
fi

# ---- ResNet-50 training throughput
R50=(--data_path "$W/train224.avs" --arch resnet50 --channels 1 --mean 0.5 --std 0.25 --input-size 224 --resize 0
	--batch_size 180 --epochs 1 --warm_up 0 --log-every 1 --threads "$(nproc)" --delete_old -q)
for prec in fp32 tf32 bf16; do
	t=$(limit 75)
	if [ "$t" = 0 ]; then
		row "train $prec" "skipped" "out of time"
		continue
	fi
	timeout -k 5 "$t" "$BIN/avsl-train" "${R50[@]}" -d cuda --precision $prec -o "$W/train-$prec" 2>"$W/train-$prec.err"
	rc=$?
	if [ "$rc" != 0 ]; then
		row "train $prec" "$(why "$rc" "$W/train-$prec.err" "$t")" "ResNet-50 224, batch 180"
		continue
	fi
	ips=$(grep '"type":"step"' "$W/train-$prec/train.jsonl" | sed 's/.*"img_s":\([0-9.e+-]*\).*/\1/' | tail -n +2 | median)
	pk=$(peak_of $prec)
	share=$( [ -n "$pk" ] && [ -n "$ips" ] && awk -v i="$ips" -v p="$pk" 'BEGIN { printf "%.1f%% of %s TFLOP/s dense", 100 * i * 24.5e9 / (p * 1e12), p }')
	wait=$(grep '"type":"epoch"' "$W/train-$prec/train.jsonl" | grep -o '"data_wait[a-z_]*":[0-9.e+-]*' | head -n 1)
	row "train $prec" "${ips:-?} img/s" "${share:-peak unknown for this GPU}; data wait: ${wait:-not reported by avsl-train}"
done

# ---- PyTorch peer
if [[ $TORCH == cuda* ]]; then
	t=$(limit 90)
	if [ "$t" = 0 ]; then
		row "torch bf16" "skipped" "out of time"
	elif out=$(timeout -k 5 "$t" /usr/bin/python3 tests/gpu/torch_step.py step 180 10 2>"$W/torch.err"); then
		ips=${out#img_s }
		pk=$(peak_of bf16)
		share=$( [ -n "$pk" ] && awk -v i="$ips" -v p="$pk" 'BEGIN { printf "%.1f%% of %s TFLOP/s dense", 100 * i * 24.5e9 / (p * 1e12), p }')
		row "torch bf16" "$ips img/s" "ResNet-50 trunk step, channels_last, autocast bf16; ${share:-}; $TORCH"
	else
		row "torch bf16" "$(why $? "$W/torch.err" "$t")" "$TORCH"
	fi
else
	row "torch bf16" "not run" "$TORCH"
fi

# ---- a ResNet-50 AVSL checkpoint for embed and graph: the fp32 training row's, else one CPU step (only the shapes
# matter to the timings)
CK=$W/train-fp32/model.safetensors
if [ ! -s "$CK" ]; then
	t=$(limit 120)
	CK=$W/ck-cpu/model.safetensors
	[ "$t" -gt 0 ] && "$BIN/avsl-prep" -q --layout idx --split train --per-class 8 --classes 0-1 -o "$W/ck.avs" "$W/big" &&
		timeout -k 5 "$t" "$BIN/avsl-train" --data_path "$W/ck.avs" --arch resnet50 --channels 1 --mean 0.5 \
			--std 0.25 --input-size 224 --resize 0 --batch_size 16 --epochs 1 --warm_up 0 --threads "$(nproc)" \
			--delete_old -q -d cpu -o "$W/ck-cpu" 2>"$W/ck.err"
fi

# ---- avsl-embed img/s
for prec in fp32 tf32; do
	t=$(limit 60)
	if [ ! -s "$CK" ]; then
		row "embed $prec" "skipped" "no ResNet-50 checkpoint (the CPU step failed: $(head -c 100 "$W/ck.err" 2>/dev/null))"
		continue
	elif [ "$t" = 0 ]; then
		row "embed $prec" "skipped" "out of time"
		continue
	fi
	two_runs "$t" "$W/embed360.avs" "$W/embed3600.avs" "$BIN/avsl-embed" -q -d cuda --precision $prec -b 180 \
		-t "$(nproc)" -m "$CK" -o /dev/null
	if [ "$RC" != 0 ]; then
		row "embed $prec" "$(why "$RC" "$W/two.err" "$t")" "ResNet-50 224, batch 180"
	else
		row "embed $prec" "$(awk -v s="$T_SMALL" -v l="$T_LARGE" 'BEGIN { printf "%.0f img/s", 3240 / (l - s) }')" \
			"(3,600 - 360) images / (wall 3,600 - wall 360): $T_LARGE s - $T_SMALL s"
	fi
done

# ---- avsl-graph pairs/s and the 60,502-item graph
if [ -s "$CK" ]; then
	"$W/mkemb" 4096 3 512 100 1 >"$W/g4k.ave" && "$W/mkemb" 16384 3 512 400 2 >"$W/g16k.ave"
fi
for prec in fp32 tf32; do
	t=$(limit 60)
	if [ ! -s "$CK" ] || [ "$t" = 0 ]; then
		row "graph $prec" "skipped" "$([ -s "$CK" ] && echo "out of time" || echo "no checkpoint")"
		continue
	fi
	two_runs "$t" "$W/g4k.ave" "$W/g16k.ave" "$BIN/avsl-graph" -q -d cuda --precision $prec -m "$CK" -k 128 -o /dev/null
	if [ "$RC" != 0 ]; then
		row "graph $prec" "$(why "$RC" "$W/two.err" "$t")" "avsl metric, D 512, k 128"
	else
		row "graph $prec" "$(awk -v s="$T_SMALL" -v l="$T_LARGE" 'BEGIN { printf "%.3g pairs/s", (16384 * 16384 - 4096 * 4096) / (l - s) }')" \
			"avsl metric, D 512 x 3 levels, k 128: 16,384^2 in $T_LARGE s, 4,096^2 in $T_SMALL s"
	fi
done
if [ -s "$CK" ] && [ "$(limit 60)" -gt 0 ]; then
	"$W/mkemb" 60502 3 512 12000 3 >"$W/sop.ave"
	rm -f "$W/g4k.ave" "$W/g16k.ave"
fi
for prec in tf32 fp32; do
	t=$(limit 90)
	if [ ! -s "$W/sop.ave" ] || [ "$t" = 0 ]; then
		row "graph 60,502 $prec" "skipped" "$([ -s "$CK" ] && echo "out of time" || echo "no checkpoint")"
		continue
	fi
	a=$(now)
	timeout -k 5 "$t" "$BIN/avsl-graph" -q -d cuda --precision $prec -m "$CK" -k 128 "$W/sop.ave" -o "$W/sop.avg" 2>"$W/sop.err"
	rc=$?
	b=$(now)
	if [ "$rc" != 0 ]; then
		row "graph 60,502 $prec" "$(why "$rc" "$W/sop.err" "$t")" "exact, avsl metric, D 512, k 128"
	else
		row "graph 60,502 $prec" "$(secs "$a" "$b") s" "exact 60,502 x 60,502, avsl metric, D 512 x 3, k 128; whole command (load, upload, write)"
	fi
	rm -f "$W/sop.avg"
done

# ---- make check-cuda, in the time left
t=$(limit "${GPU_CHECK_S:-240}")
if [ "$t" = 0 ]; then
	CHECK_ROW=("make check-cuda" "skipped" "out of time")
else
	timeout -k 5 "$t" make check-cuda >"$W/check.log" 2>&1
	rc=$?
	pass=$(grep -c '^PASS' "$W/check.log")
	fail=$(grep -c '^FAIL' "$W/check.log")
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		CHECK_ROW=("make check-cuda" "timeout after $t s" "$pass passed, $fail failed so far")
	else
		CHECK_ROW=("make check-cuda" "$(grep -E '[0-9]+ passed, [0-9]+ failed' "$W/check.log" | tail -n 1)" \
			"exit $rc; first failure: $(grep -m 1 '^FAIL' "$W/check.log" | cut -c1-120)")
	fi
fi
ROWS=("$(printf '| %-22s | %-40s | %s |' "${CHECK_ROW[@]}")" "${ROWS[@]}")

kill "$SMI_PID" 2>/dev/null
SMI_PID=
mem=$(sort -n "$W/smi.txt" 2>/dev/null | tail -n 1)
row "peak device memory" "${mem:-?} MiB" "nvidia-smi memory.used, every 200 ms over the whole run (all rows)"
print_table
