#!/usr/bin/env bash
# tests/bench/explain_faithfulness.sh: the faithfulness table of avsl-explain (every attribution method against
# random controls with the maps' own smoothness, pixel and cell deletion, mean and blur fills, bootstrap 95%
# intervals and paired win rates; see avsl-explain(1)) on a trained model, with the wall time of the run. It trains
# nothing: give it a trained AVSL model and a test shard.
#
#   tests/bench/explain_faithfulness.sh MODEL SHARD [PAIRS [STEPS]]
#   (or AVSL_EXPLAIN_MODEL, AVSL_EXPLAIN_SHARD, AVSL_EXPLAIN_PAIRS (50), AVSL_EXPLAIN_STEPS (16) in the environment;
#   AVSL_EXPLAIN_THREADS (1) sets the threads)
#
# Deletion: higher AUC is better (removing the evidence raises d_f); insertion: lower is better. Without a model
# (e.g. under `make bench`) it says so and exits 0.
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
"$BIN/avsl-explain" faithfulness -q -m "$MODEL" --shard "$SHARD" --pairs "$PAIRS" --steps "$STEPS" -t "$THREADS" ||
	exit 1
t1=$(date +%s.%N)
echo "faithfulness of $MODEL: $PAIRS pairs, $STEPS steps, $(echo "$t1 - $t0" | bc) s"
