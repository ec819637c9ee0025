#!/usr/bin/env bash
# CLI tests of the data-parallel path (man avsl-train, DISTRIBUTED): under mpirun, N ranks at a global batch B equal
# one process at batch B (losses of every step and final parameters and Adam moments to 1e-5 relative: only the
# float summation order differs) for AVSL, the baseline and the batch-class proxy columns of SOP (K > 1000), and with
# trained BN and --sync-bn (BN statistics of the global batch; without it each rank's differ); runs
# resume across rank counts at the same global batch; a signal on one rank stops all with one checkpoint; a killed
# rank ends the job; avsl-embed and avsl-graph under mpirun write the one-process bytes; --merge joins --shard parts.
. "$(dirname "$0")/lib.sh"
if ! command -v mpirun >/dev/null; then
	echo "SKIP mpi: mpirun not found (make deps installs openmpi-bin)"
	exit 0
fi
if ! avsl-train --help 2>/dev/null | grep -q .; then
	echo "FAIL mpi_build: avsl-train not built"
	exit 0
fi
# 2 cores here: oversubscribe (and, as CI runs as root, allow it); 1 OpenMP thread per rank.
export OMP_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe -np 2)
PY=/usr/bin/python3
STDIFF="$AVSL_ROOT/tests/cli/stdiff.py"
D=$T/synth
synth "$D" 8 6 16 1
avsl-prep -q --layout idx --split train --classes 0-7 -o "$D/train.avs" "$D"
avsl-prep -q --layout idx --split test --classes 0-7 -o "$D/test.avs" "$D"
# 48 training images of 8 classes (a rank's half of a batch misses some of the batch's classes): 3 steps of a global batch of 16 per epoch. The trunk trains from step 1 (--warm_up 0), BN is
# frozen (the default). lr_trunk 1e-5: Adam divides each update by the root of its squared gradient, so an element
# whose gradient is near zero turns summation-order noise into an update difference of up to ~lr; at 1e-4 one
# element of 36864 in layer4 ends 1.6e-5 (relative to the tensor's largest value) apart, at 1e-5 ten times less.
TINY=(--arch cifar_resnet18 --base-width 8 --channels 1 --input-size 16 --resize 0 --crop-scale 0.6 1 --mean 0.2
	--std 0.3 --embeddings_dim 32 --topk_corr 8 --batch_size 16 --test_batch_size 20 --warm_up 0 --lr_trunk 1e-5
	--lr_embedder 1e-3 --lr_collector 1e-2 --seed 7 --threads 1 --log-every 1 --data_path "$D/train.avs"
	--splits_to_eval train)

# losses A B [DIFFER]: every step's losses of two train.jsonl logs agree to 1e-5 relative (and there are as many
# steps); with DIFFER: they are at least DIFFER apart (relative) somewhere, i.e. the two runs compute different things
losses() {
	$PY - "$1" "$2" "${3:-}" <<'PYEOF'
import json, sys
def steps(p):
    return [json.loads(l)["losses"] for l in open(p) if '"type":"step"' in l]
a, b = steps(sys.argv[1]), steps(sys.argv[2])
assert len(a) == len(b) and a, "%d vs %d steps" % (len(a), len(b))
worst = max(abs(x[k] - y[k]) / max(abs(y[k]), 1e-30) for x, y in zip(a, b) for k in y)
print("losses of %d steps: max_rel %.3g" % (len(a), worst))
sys.exit(worst < float(sys.argv[3]) if sys.argv[3] else worst > 1e-5)
PYEOF
}

# equal NAME ARGS...: one process vs 2 ranks at the same global batch, 3 steps: every loss, the final parameters and
# Adam moments (those stdiff.py's regex $EQUAL_PARAMS selects; default all) and the BN running statistics
equal() {
	local name=$1
	shift
	avsl-train -q "${TINY[@]}" "$@" --epochs 1 -o "$T/$name.1" 2>"$T/$name.1.err" ||
		echo "FAIL mpi_${name}_one: $(head -c 300 "$T/$name.1.err")"
	expect "mpi_${name}_two_ranks" 0 empty '' -- "${MPIRUN[@]}" avsl-train -q "${TINY[@]}" "$@" --epochs 1 -o "$T/$name.2"
	check "mpi_${name}_losses" "set -o pipefail; losses $T/$name.2/train.jsonl $T/$name.1/train.jsonl | tee -a $T/figures"
	check "mpi_${name}_params" "set -o pipefail; $PY $STDIFF $T/$name.2/last.safetensors $T/$name.1/last.safetensors 1e-5 ${EQUAL_PARAMS:+'$EQUAL_PARAMS'} | tee -a $T/figures"
	check "mpi_${name}_bn_running_stats" "set -o pipefail; $PY $STDIFF $T/$name.2/last.safetensors $T/$name.1/last.safetensors 1e-5 'running_(mean|var)$' | tee -a $T/figures"
}
export -f losses
export PY
equal avsl --eval-data "$D/test.avs" --splits_to_eval test
# the test split, embedded in parts and evaluated by rank 0, gives the one-process metrics
check mpi_avsl_eval "grep '\"type\":\"epoch\"' $T/avsl.2/train.jsonl | grep -o '\"recall\":{[^}]*}' > $T/rec2 &&
	grep '\"type\":\"epoch\"' $T/avsl.1/train.jsonl | grep -o '\"recall\":{[^}]*}' > $T/rec1 && test -s $T/rec1 && cmp $T/rec1 $T/rec2"
equal baseline --setting proxy_anchor
# K = 1200 > 1000 proxies: the columns are the sorted unique labels of the whole global batch (SOP, §3.5)
equal sop_columns --num_classes 1200
# --sync-bn with BN trained: 2 ranks at 2 x 8 images normalise by the statistics of the global batch of 16 like one
# process does. lr_trunk 1e-6: with trained BN many trunk gradients nearly cancel (a BN removes what a shift or a
# scale before it changes), and Adam divides each update by the root of its squared gradient, so float summation
# order moves such an element's update by up to ~lr (1e-5: a conv weight 3.4e-5 of its tensor's largest value apart).
# The BN affine tensors (gamma, beta and their Adam moments) are the extreme case: their gradients cancel the most
# and the shifts start at 0, so after 3 steps they are 3 such updates and their relative difference does not shrink
# with lr. They get 1e-4 (measured here up to 4e-5; one process with --threads 1 vs 2, the same noise without any
# ranks, differs by 3e-5); every other tensor 1e-5.
SYNC=(--not_freeze_bn --lr_trunk 1e-6)
BNAFFINE='(bn[0-9]|downsample\.1)\.(weight|bias)$'
EQUAL_PARAMS="!$BNAFFINE" equal sync_bn "${SYNC[@]}" --sync-bn
check mpi_sync_bn_affine "set -o pipefail; $PY $STDIFF $T/sync_bn.2/last.safetensors $T/sync_bn.1/last.safetensors 1e-4 '$BNAFFINE' | tee -a $T/figures"
# without --sync-bn each rank normalises by its own 8 images: not the one-process losses (so the test above can fail)
"${MPIRUN[@]}" avsl-train -q "${TINY[@]}" "${SYNC[@]}" --epochs 1 -o "$T/bn_per_rank" 2>/dev/null
check mpi_bn_per_rank_differs "set -o pipefail; losses $T/bn_per_rank/train.jsonl $T/sync_bn.1/train.jsonl 1e-3 | tee -a $T/figures"
# one process: --sync-bn changes nothing, bit for bit; frozen BN (the default): neither on 2 ranks
steplosses() { grep -o '"losses":{[^}]*}' "$1"; }
export -f steplosses
avsl-train -q "${TINY[@]}" "${SYNC[@]}" --epochs 1 -o "$T/bn_one" 2>/dev/null
check mpi_sync_bn_one_process_identical "$PY $STDIFF $T/sync_bn.1/last.safetensors $T/bn_one/last.safetensors 0 &&
	cmp <(steplosses $T/sync_bn.1/train.jsonl) <(steplosses $T/bn_one/train.jsonl)"
"${MPIRUN[@]}" avsl-train -q "${TINY[@]}" --eval-data "$D/test.avs" --splits_to_eval test --sync-bn --epochs 1 \
	-o "$T/avsl.2s" 2>/dev/null
check mpi_sync_bn_frozen_identical "$PY $STDIFF $T/avsl.2s/last.safetensors $T/avsl.2/last.safetensors 0 &&
	cmp <(steplosses $T/avsl.2s/train.jsonl) <(steplosses $T/avsl.2/train.jsonl)"
# uneven split: 3 ranks share 16 images as 5 + 5 + 6
expect mpi_three_ranks 0 empty '' -- mpirun --oversubscribe -np 3 avsl-train -q "${TINY[@]}" --epochs 1 -o "$T/avsl.3"
check mpi_three_ranks_params "set -o pipefail; $PY $STDIFF $T/avsl.3/last.safetensors $T/avsl.1/last.safetensors 1e-5 | tee -a $T/figures"

# Resume across rank counts: the batch order is a function of the global step, so 2 -> 1 and 1 -> 2 continue with
# the same global batches as an uninterrupted one-process run (6 steps over 2 epochs).
avsl-train -q "${TINY[@]}" --epochs 2 -o "$T/u1" 2>/dev/null
"${MPIRUN[@]}" avsl-train -q "${TINY[@]}" --epochs 1 -o "$T/r21" 2>/dev/null
expect mpi_resume_2_to_1 0 empty '' -- avsl-train -q --resume "$T/r21/last.safetensors" --epochs 2 -o "$T/r21"
check mpi_resume_2_to_1_losses "set -o pipefail; losses $T/r21/train.jsonl $T/u1/train.jsonl | tee -a $T/figures"
check mpi_resume_2_to_1_params "set -o pipefail; $PY $STDIFF $T/r21/last.safetensors $T/u1/last.safetensors 1e-5 | tee -a $T/figures"
avsl-train -q "${TINY[@]}" --epochs 1 -o "$T/r12" 2>/dev/null
expect mpi_resume_1_to_2 0 empty '' -- "${MPIRUN[@]}" avsl-train -q --resume "$T/r12/last.safetensors" --epochs 2 -o "$T/r12"
check mpi_resume_1_to_2_losses "set -o pipefail; losses $T/r12/train.jsonl $T/u1/train.jsonl | tee -a $T/figures"
check mpi_resume_1_to_2_params "set -o pipefail; $PY $STDIFF $T/r12/last.safetensors $T/u1/last.safetensors 1e-5 | tee -a $T/figures"
# on the same rank count a resumed run is bit-exact
"${MPIRUN[@]}" avsl-train -q "${TINY[@]}" --epochs 2 -o "$T/u2" 2>/dev/null
"${MPIRUN[@]}" avsl-train -q "${TINY[@]}" --epochs 1 -o "$T/r22" 2>/dev/null
"${MPIRUN[@]}" avsl-train -q --resume "$T/r22/last.safetensors" --epochs 2 -o "$T/r22" 2>/dev/null
check mpi_resume_2_to_2_bit_exact "$PY $STDIFF $T/r22/last.safetensors $T/u2/last.safetensors 0"

# avsl-embed and avsl-graph under mpirun write the one-process bytes (48 test images in batches of 20: the ranks
# take whole batches); --shard parts joined by --merge are the whole graph too.
M=$T/avsl.1/last.safetensors
avsl-embed -q -m "$M" -b 20 "$D/test.avs" -o "$T/e1.ave"
expect mpi_embed 0 empty '' -- "${MPIRUN[@]}" avsl-embed -q -m "$M" -b 20 "$D/test.avs" -o "$T/e2.ave"
check mpi_embed_bytes "cmp $T/e1.ave $T/e2.ave"
avsl-graph -q -m "$M" --tile 16 -k 10 "$T/e1.ave" -o "$T/g1.avg"
expect mpi_graph 0 empty '' -- "${MPIRUN[@]}" avsl-graph -q -m "$M" --tile 16 -k 10 "$T/e1.ave" -o "$T/g2.avg"
check mpi_graph_bytes "cmp $T/g1.avg $T/g2.avg"
expect mpi_graph_three_ranks 0 empty '' -- mpirun -np 3 avsl-graph -q -m "$M" --tile 16 -k 10 "$T/e1.ave" -o "$T/g3.avg"
check mpi_graph_three_ranks_bytes "cmp $T/g1.avg $T/g3.avg"
expect mpi_graph_stdin 2 empty 'must be files' -- "${MPIRUN[@]}" avsl-graph -q -m "$M" -o "$T/g4.avg" -
for i in 0 1 2; do avsl-graph -q -m "$M" --tile 16 -k 10 --shard $i/3 "$T/e1.ave" -o "$T/p$i.avg"; done
expect graph_merge 0 empty '' -- avsl-graph --merge -o "$T/gm.avg" "$T/p0.avg" "$T/p1.avg" "$T/p2.avg"
check graph_merge_bytes "cmp $T/g1.avg $T/gm.avg"
avsl-graph -q -m "$M" -k 5 --shard 1/3 "$T/e1.ave" -o "$T/p5.avg"
expect graph_merge_mismatch 1 empty 'p5\.avg: k 5' -- avsl-graph --merge -o "$T/gx.avg" "$T/p0.avg" "$T/p5.avg"
expect graph_merge_no_parts 2 empty 'missing' -- avsl-graph --merge -o "$T/gx.avg"

# A paper recipe with NP=2 launches its training, embedding and graphs through mpirun.
synth "$D/rec" 6 20 16 3
RTINY="--arch cifar_resnet18 --base-width 8 --channels 1 --input-size 16 --resize 0 --epochs 1 --batch_size 16
--test_batch_size 32 --warm_up 0 --feature_dim_list 16 32 64 --embeddings_dim 16 --topk_corr 4 --threads 1 -q"
expect mpi_recipe_np2 0 - '' -- make -s -C "$AVSL_ROOT" -f pipelines/sop.mk BIN="$AVSL_BIN" DATA="$D/rec" INIT=none \
	OUT="$T/sop" NP=2 MPIRUN_FLAGS=--oversubscribe EXTRA_TRAIN="$RTINY"
check mpi_recipe_np2_results "grep -q '^AVSL ' $T/sop/results.txt"

# Faults, on a set big enough that the runs are under way when the signal comes (100 steps per epoch).
synth "$D/big" 4 400 16 2
avsl-prep -q --layout idx --split train --classes 0-3 -o "$D/big.avs" "$D/big"
BIG=("${TINY[@]}" --data_path "$D/big.avs" --epochs 20)
# rank_pid RUN: the pid of rank 1 once run RUN logs its first step ("" after 30 s)
rank1_pid() {
	for _ in $(seq 600); do
		grep -q '"type":"step"' "$T/$1/train.jsonl" 2>/dev/null && break
		sleep 0.05
	done
	pgrep -f -- "-o $T/$1\$" | while read -r p; do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && echo "$p"
	done | head -n 1
}
# SIGINT on rank 1 alone: every rank stops after the same step, rank 0 saves one checkpoint, exit 130.
"${MPIRUN[@]}" avsl-train "${BIG[@]}" -o "$T/rs" >/dev/null 2>"$T/rs.err" &
job=$!
p=$(rank1_pid rs)
[ -n "$p" ] && kill -INT "$p"
wait $job
st=$?
if [ $st -eq 130 ]; then
	echo "PASS mpi_sigint_one_rank"
	check mpi_sigint_message "grep -q 'interrupted; saved' $T/rs.err"
	expect mpi_sigint_resume_one_rank 0 empty '' -- avsl-train -q --resume "$T/rs/last.safetensors" --epochs 1 -o "$T/rs"
else
	echo "FAIL mpi_sigint_one_rank: exit status $st, expected 130 (pid '$p'); $(tail -c 300 "$T/rs.err")"
fi
# kill -9 of rank 1: every rank ends within 30 s and the launcher names the rank.
"${MPIRUN[@]}" avsl-train -q "${BIG[@]}" -o "$T/rk" >/dev/null 2>"$T/rk.err" &
job=$!
p=$(rank1_pid rk)
t0=$(date +%s)
[ -n "$p" ] && kill -9 "$p"
for _ in $(seq 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
if kill -0 $job 2>/dev/null; then
	echo "FAIL mpi_kill9: the job still runs 30 s after rank 1 was killed"
	pgrep -f -- "-o $T/rk\$" | xargs -r kill -9
	kill -9 $job
else
	echo "PASS mpi_kill9_all_exit (in $(($(date +%s) - t0)) s)"
	check mpi_kill9_message "grep -Eiq 'rank 1.*(killed|signal 9)' $T/rk.err"
fi
wait $job 2>/dev/null
if [ -s "$T/figures" ]; then sed 's/^/# /' "$T/figures" >&2; fi
