#!/usr/bin/env bash
# tests/bench/explain_faithfulness.sh: deletion/insertion faithfulness of the AVSL attribution map of avsl-explain
# against its two controls (the plain last-level CAM and a random map), measured in the same run, with the ratio of
# each method's AUC to the random map's. It trains nothing: give it a trained AVSL model and a test shard.
#
#   tests/bench/explain_faithfulness.sh MODEL SHARD [PAIRS [STEPS]]
#   (or AVSL_EXPLAIN_MODEL, AVSL_EXPLAIN_SHARD, AVSL_EXPLAIN_PAIRS (50), AVSL_EXPLAIN_STEPS (16) in the environment;
#   AVSL_EXPLAIN_THREADS (1) sets the threads)
#
# Deletion removes the most-attributed pixels of the first image first: a faithful map raises d_f fastest, so a
# HIGHER deletion AUC (ratio > 1 against random) is better. Insertion adds them back to an all-mean image: a LOWER
# insertion AUC (ratio < 1) is better. Without a model (e.g. under `make bench`) it says so and exits 0.
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${AVSL_BIN:-build/bin}
MODEL=${1:-${AVSL_EXPLAIN_MODEL:-}}
SHARD=${2:-${AVSL_EXPLAIN_SHARD:-}}
PAIRS=${3:-${AVSL_EXPLAIN_PAIRS:-50}}
STEPS=${4:-${AVSL_EXPLAIN_STEPS:-16}}
THREADS=${AVSL_EXPLAIN_THREADS:-1} # the batches are small: more threads mostly spin on a shared machine
if [ -z "$MODEL" ] || [ -z "$SHARD" ]; then
	echo "explain_faithfulness: skipped (usage: $0 MODEL SHARD [PAIRS [STEPS]])"
	exit 0
fi
t0=$(date +%s.%N)
json=$("$BIN/avsl-explain" faithfulness -q -m "$MODEL" --shard "$SHARD" --pairs "$PAIRS" --steps "$STEPS" -t "$THREADS" --json) ||
	exit 1
t1=$(date +%s.%N)
echo "$json" | sed 's/},{/}\n{/g' | awk -v model="$MODEL" -v secs="$(echo "$t1 - $t0" | bc)" '
function num(key,   s) { s = $0; sub(".*\"" key "\":", "", s); sub("[,}\\]].*", "", s); return s + 0 }
NR == 1 { pairs = num("pairs"); steps = num("steps")
  s = $0; sub(".*\"avsl_over_cam\":{\"deletion\":", "", s); aoc_d = s + 0; sub("[^,]*,\"insertion\":", "", s); aoc_i = s + 0 }
{ s = $0; sub(".*\"method\":\"", "", s); sub("\".*", "", s); m[++n] = s
  del[n] = num("deletion_auc"); dsd[n] = num("deletion_sd"); ins[n] = num("insertion_auc"); isd[n] = num("insertion_sd")
  dw[n] = num("deletion_win"); iw[n] = num("insertion_win")
  if (s == "random") r = n }
END {
	printf "faithfulness of %s: %d pairs, %d steps, %.1f s (AUC of d/d_0; ratio = AUC / random map AUC)\n", model, pairs, steps, secs
	printf "%-10s %10s %8s %7s %6s %10s %8s %7s %6s\n", "method", "deletion", "sd", "ratio", "win", "insertion", "sd", "ratio", "win"
	for (i = 1; i <= n; i++)
		printf "%-10s %10.4f %8.4f %7.3f %6.2f %10.4f %8.4f %7.3f %6.2f\n", m[i], del[i], dsd[i], del[i] / del[r], dw[i], ins[i], isd[i], ins[i] / ins[r], iw[i]
	printf "deletion: higher is better (removing the evidence raises d_f); insertion: lower is better;\n"
	printf "win: fraction of pairs where the method beats the random map on the same pair\n"
	printf "avsl map beats the last-level CAM on the same pair: deletion %.2f, insertion %.2f of the pairs\n", aoc_d, aoc_i
}'
