#!/usr/bin/env bash
# tests/bench/trunk.sh: ResNet trunk images/s, ours (bench_trunk) against PyTorch (trunk_torch.py), same threads.
# The cores are shared, so the two run interleaved, REPS times each, and the best of each is kept.
# Env: THREADS (default: online CPUs), REPS (default 2), QUICK=1 (fewer rows, for a smoke run).
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${AVSL_BENCH_BIN:-$PWD/${BUILD:-build}/bench}/bench_trunk
PY=/usr/bin/python3
T=${THREADS:-$(nproc)}
REPS=${REPS:-2}
[ -x "$BIN" ] || { echo "trunk.sh: $BIN not built (make CUDA=0)" >&2; exit 1; }
$PY -c 'import torch, torchvision' 2>/dev/null || { echo "trunk.sh: needs python3-torch, python3-torchvision" >&2; exit 1; }

# arch batch size mode iterations
rows=("resnet50 8 224 fwd 2" "resnet50 8 224 fwdbwd 2" "resnet50 32 224 fwd 1" "resnet50 32 224 fwdbwd 1"
      "cifar_resnet18 64 32 fwd 3" "cifar_resnet18 64 32 fwdbwd 3")
[ -n "${QUICK:-}" ] && rows=("resnet50 8 224 fwd 1" "cifar_resnet18 64 32 fwdbwd 2")

best() { # best img/s (field 6) and GFLOP/s (field 7) over lines on stdin
	awk 'BEGIN{b=0;g="-"} $1=="trunk" && $6+0>b {b=$6+0; g=$7} END{printf "%.2f %s\n", b, g}'
}

peak=0
measure_peak() { # best sgemm rate seen so far (measured between rows: the load changes during the run)
	local p
	p=$("$BIN" --sgemm 2048 -t "$T" -i 2 | awk '{print $3}')
	peak=$(awk -v a="$peak" -v b="$p" 'BEGIN{print (b>a)?b:a}')
}

out=()
for row in "${rows[@]}"; do
	set -- $row
	ours="" torch=""
	for r in $(seq "$REPS"); do
		measure_peak
		ours+=$("$BIN" -a "$1" -n "$2" -s "$3" -m "$4" -i "$5" -t "$T" -c 3)$'\n'
		torch+=$($PY tests/bench/trunk_torch.py -a "$1" -n "$2" -s "$3" -m "$4" -i "$5" -t "$T" -c 3)$'\n'
	done
	read -r o g <<<"$(best <<<"$ours")"
	read -r t _ <<<"$(best <<<"$torch")"
	out+=("$1 $2 $3 $4 $o $t $g")
done
measure_peak

printf '%-16s %5s %5s %-7s %10s %11s %6s %8s %6s\n' arch batch size mode "ours img/s" "torch img/s" ratio "GFLOP/s" "%peak"
for line in "${out[@]}"; do
	set -- $line
	ratio=$(awk -v a="$5" -v b="$6" 'BEGIN{if (b>0) printf "%.2f", a/b; else print "-"}')
	pct=$(awk -v a="$7" -v b="$peak" 'BEGIN{if (b>0 && a!="-") printf "%.0f%%", 100*a/b; else print "-"}')
	printf '%-16s %5s %5s %-7s %10s %11s %6s %8s %6s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$ratio" "$7" "$pct"
done
echo "sgemm peak (OpenBLAS 2048^3, best of all measurements between rows): $peak GFLOP/s; threads $T;" \
	"ours and torch interleaved, best of $REPS runs each"
echo "GFLOP/s counts convolution FLOPs only (fwd 1x, fwd+bwd 3x the forward); load: $(cut -d' ' -f1-3 /proc/loadavg)"
