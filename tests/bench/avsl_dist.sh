#!/usr/bin/env bash
# tests/bench/avsl_dist.sh: pairs/s of avsl_dist_tile against PyTorch computing the same distance the way the
# official code does (dense per-pair differences, dense matmul with the masked links, row slices of 10 and 50;
# torch's best slice is the peer). D = 512, 3 levels, top-k 128, p = 2, 2 threads each.
# Rates are given per wall second and per CPU second (the latter is robust when other jobs share the cores), and as
# % of the FMA peak of the same thread count measured in the same run (bench_avsl_dist: a register-resident FMA loop),
# counting for both 2 flops per nonzero of every S_hat per pair (the useful work of the sparse products; the dense
# matmul of the official code does 4x as many flops for the same result). The % uses CPU seconds on both sides.
# AVSL_BENCH_TORCH_N (600), AVSL_BENCH_N (1200; ours, symmetric X == Y) and AVSL_BENCH_THREADS (2) override sizes.
set -u
cd "$(dirname "$0")/../.." || exit 1
BENCH_BIN=${AVSL_BENCH_BIN:-build/bench}
TN=${AVSL_BENCH_TORCH_N:-600}
N=${AVSL_BENCH_N:-1200}
TH=${AVSL_BENCH_THREADS:-2}
ours=$("$BENCH_BIN/bench_avsl_dist" "$N" "$TH" 256) || exit 1
torch=$(/usr/bin/python3 tests/bench/avsl_dist_torch.py "$TN" "$TH" 10 50) || exit 1
echo "$ours" | awk -v torch="$torch" -v tn="$TN" -v th="$TH" '
BEGIN {
	n = split(torch, t, "\n"); bw = 0; bc = 0
	for (i = 1; i <= n; i++) { split(t[i], f, " "); if (f[3] > bw) { bw = f[3]; bs = f[2] }; if (f[4] > bc) bc = f[4] }
}
/^ours_sym/  { sn = $2; sw = $4; sc = $5 }
/^ours_rect/ { rp = $2; rw = $4; rc = $5 }
/^maxrel/    { mr = $2 }
/^peak/      { pw = $2; pc = $3; fl = $4 }
END {
	printf "%-44s %14s %14s %10s\n", "avsl distance, D=512, 3 levels, top-k 128", "pairs/s wall", "pairs/s CPU", "% of peak"
	printf "%-44s %14.0f %14.0f %9.1f%%\n", sprintf("torch %dx%d, best slice (%d), %d threads", tn, tn, bs, th), bw, bc, 100 * bc * fl / pc
	printf "%-44s %14.0f %14.0f %9.1f%%\n", sprintf("ours %d rows x %d (rectangular)", 256, sn), rw, rc, 100 * rc * fl / pc
	printf "%-44s %14.0f %14.0f %10s\n", sprintf("ours %dx%d symmetric (N^2 pairs delivered)", sn, sn), sw, sc, "(half)"
	printf "%-44s %14.3g %14.3g\n", sprintf("FMA peak flops/s (%d flops per pair)", fl), pw, pc
	printf "%-44s %14.1f %14.1f\n", "ratio ours rectangular / torch", rw / bw, rc / bc
	printf "%-44s %14.1f %14.1f\n", "ratio ours symmetric / torch", sw / bw, sc / bc
	printf "%-44s %14.0f %14s\n", "CUB 5924x5924 estimate, seconds (symmetric)", 5924 * 5924 / sw, ""
	printf "%-44s %14.2g\n", "max relative difference vs naive (2 rows)", mr
}'
