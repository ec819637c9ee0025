#!/usr/bin/env bash
# CLI tests for avsl-train and avsl-embed on a synthetic dataset (pipelines/synth/mksynth.c): usage, bad input,
# a short AVSL and baseline training whose loss falls, bit-exact --resume (at an epoch end and after SIGINT
# mid-epoch), a NaN loss, and the embed | graph | eval pipeline agreeing with the trainer's own evaluation.
. "$(dirname "$0")/lib.sh"
D=$T/synth
synth "$D" 8 40 16 1
avsl-prep -q --layout idx --split train --classes 0-3 -o "$D/train.avs" "$D"
avsl-prep -q --layout idx --split test --classes 4-7 -o "$D/test.avs" "$D"
SMALL=(--arch cifar_resnet18 --base-width 8 --channels 1 --input-size 16 --resize 0 --crop-scale 0.6 1 --mean 0.2
	--std 0.3 --embeddings_dim 32 --topk_corr 8 --batch_size 32 --test_batch_size 64 --warm_up 1 --lr_trunk 1e-4
	--lr_embedder 1e-3 --lr_collector 1e-2 --seed 7 --threads 2)
DATA=(--data_path "$D/train.avs" --eval-data "$D/test.avs")

expect train_no_args 2 empty 'Try .avsl-train --help' -- avsl-train
expect train_unknown_flag 2 empty 'unknown|unrecognized' -- avsl-train --no-such-flag 1
expect train_help 0 - empty -- avsl-train --help
check train_help_mentions_official_flags "avsl-train --help | grep -q -- '--topk_corr\|--topk-corr'"
expect train_missing_data 1 empty 'nonexistent\.avs' -- avsl-train --data_path "$T/nonexistent.avs" -o "$T/r0" --epochs 1
printf 'not a shard' >"$T/bad.avs"
expect train_bad_shard 1 empty 'bad\.avs' -- avsl-train --data_path "$T/bad.avs" -o "$T/r0" --epochs 1
expect train_bad_number 2 empty 'batch' -- avsl-train "${DATA[@]}" --batch_size 0 -o "$T/r0"

# A short AVSL run: files, log lines, falling loss.
expect train_avsl 0 empty '' -- avsl-train -q "${DATA[@]}" "${SMALL[@]}" --epochs 4 --log-every 1 -o "$T/ra"
check train_avsl_files "test -s $T/ra/last.safetensors && test -s $T/ra/model.safetensors && test -s $T/ra/train.jsonl"
check train_avsl_log_epochs "[ \$(grep -c '\"type\":\"epoch\"' $T/ra/train.jsonl) -eq 4 ]"
# The log's values: 160 images / 32 = 5 steps an epoch; every epoch's losses are the mean of its 5 step records
# (float32 sums: 1e-5 relative); the lrs are the configured ones (no StepLR step before epoch 1 + 10) and only the
# trunk sits out the warm-up epoch 0; and training works: the level-1 loss of epoch 3 is at least 5 % below epoch
# 0's (12.24 -> 11.02 when written).
jq_loss() { sed -n "s/.*\"type\":\"$1\",\"epoch\":\([0-9]*\),\"step\":\([0-9]*\).*\"final\":\([^,]*\),\"level0\":\([^,]*\),\"level1\":\([^,]*\),\"level2\":\([^}]*\)}.*/\1 \2 \3 \4 \5 \6/p" "$T/ra/train.jsonl"; }
jq_loss step >"$T/ra-steps"
jq_loss epoch >"$T/ra-epochs"
check train_avsl_step_count "awk '{n[\$1]++; last=\$2} END{exit !(n[0] == 5 && n[3] == 5 && last == 20)}' $T/ra-steps"
check train_avsl_epoch_means "awk 'NR == FNR {for (k = 3; k <= 6; k++) s[\$1, k] += \$k / 5; next}
	{for (k = 3; k <= 6; k++) if ((\$k - s[\$1, k])^2 > (1e-5 * \$k)^2) exit 1; n++} END{exit n != 4}' $T/ra-steps $T/ra-epochs"
check train_avsl_lr_values "grep '\"type\":\"epoch\"' $T/ra/train.jsonl | grep -c '\"lr\":{\"trunk\":0.0001,\"embedder\":0.001,\"collector\":0.01}' | grep -qx 4"
check train_avsl_warm_up "grep '\"type\":\"epoch\"' $T/ra/train.jsonl | sed 's/.*\"active\":\({[^}]*}\).*/\1/' | tr '\n' ' ' | grep -qx '{\"trunk\":false,\"embedder\":true,\"collector\":true} {\"trunk\":true,\"embedder\":true,\"collector\":true} {\"trunk\":true,\"embedder\":true,\"collector\":true} {\"trunk\":true,\"embedder\":true,\"collector\":true} '"
check train_avsl_loss_falls "awk 'NR == 1 {a = \$5} END {exit !(\$5 <= 0.95 * a)}' $T/ra-epochs"
check train_avsl_recall_logged "grep -q '\"recall\":{\"1\":' $T/ra/train.jsonl"

# --resume at an epoch boundary continues bit for bit: same embeddings as the uninterrupted run.
avsl-train -q "${DATA[@]}" "${SMALL[@]}" --epochs 2 -o "$T/rb" 2>/dev/null
expect train_resume 0 empty '' -- avsl-train -q --resume "$T/rb/last.safetensors" --epochs 4 -o "$T/rb"
avsl-embed -q -m "$T/ra/last.safetensors" "$D/test.avs" -o "$T/ra.ave"
avsl-embed -q -m "$T/rb/last.safetensors" "$D/test.avs" -o "$T/rb.ave"
check train_resume_bit_exact "cmp $T/ra.ave $T/rb.ave"

# SIGINT mid-run: a checkpoint at the next step boundary, exit 128+2, and the resumed run ends where an
# uninterrupted one does. The signal is sent once the log shows the first step (so training is under way) on a set
# big enough (750 steps) that the run cannot have finished by then.
synth "$D/big" 8 2000 16 2
avsl-prep -q --layout idx --split train --classes 0-3 -o "$D/big.avs" "$D/big"
BIG=(--data_path "$D/big.avs" --splits_to_eval train "${SMALL[@]}" --epochs 3 --log-every 1)
avsl-train -q "${BIG[@]}" -o "$T/rs" 2>"$T/rs.err" &
pid=$!
for _ in $(seq 600); do
	grep -q '"type":"step"' "$T/rs/train.jsonl" 2>/dev/null && break
	sleep 0.05
done
kill -INT $pid
wait $pid
st=$?
if [ $st -eq 130 ]; then
	echo "PASS train_sigint_status"
	check train_sigint_message "grep -q 'interrupted; saved' $T/rs.err"
	expect train_sigint_resume 0 empty '' -- avsl-train -q --resume "$T/rs/last.safetensors" -o "$T/rs"
	avsl-train -q "${BIG[@]}" -o "$T/ru" 2>/dev/null
	avsl-embed -q -m "$T/rs/last.safetensors" "$D/test.avs" -o "$T/rs.ave"
	avsl-embed -q -m "$T/ru/last.safetensors" "$D/test.avs" -o "$T/ru.ave"
	check train_sigint_resume_bit_exact "cmp $T/rs.ave $T/ru.ave"
else
	echo "FAIL train_sigint_status: exit status $st, expected 130 (the run may have ended before the signal)"
fi

# A diverging run stops with a clear error and keeps no half-written checkpoint.
expect train_nan_loss 1 empty 'loss is (nan|inf|-nan)' -- avsl-train -q "${DATA[@]}" "${SMALL[@]}" --warm_up 0 \
	--lr_trunk 1e8 --lr_embedder 1e8 --lr_collector 1e8 --epochs 3 -o "$T/rn"
check train_nan_no_temp_files "! ls $T/rn/*.tmp.* 2>/dev/null"

# The baseline trains and evaluates too.
expect train_baseline 0 empty '' -- avsl-train -q "${DATA[@]}" "${SMALL[@]}" --setting proxy_anchor --epochs 2 -o "$T/rp"
check train_baseline_recall "grep -q '\"recall\":{\"1\":' $T/rp/train.jsonl"

# avsl-embed
expect embed_no_model 2 empty 'MODEL' -- avsl-embed "$D/test.avs"
expect embed_not_checkpoint 1 empty 'bad\.avs' -- avsl-embed -m "$T/bad.avs" "$D/test.avs"
# a terminal as standard output (a pseudo-terminal): refused before any byte is written, with a valid model and shard
check embed_refuses_tty "out=\$(/usr/bin/python3 $AVSL_ROOT/tests/cli/on_tty.py avsl-embed -q -m $T/ra/model.safetensors \
	$D/test.avs); st=\$?; [ \$st -eq 1 ] && [ \$(printf '%s' \"\$out\" | wc -l) -le 1 ] && \
	printf '%s' \"\$out\" | grep -q '^avsl-embed: refusing to write binary data to a terminal'"
check embed_tty_with_output_file "/usr/bin/python3 $AVSL_ROOT/tests/cli/on_tty.py avsl-embed -q -m $T/ra/model.safetensors \
	-o $T/tty.ave $D/test.avs && test -s $T/tty.ave"
expect embed_npy 0 empty '' -- avsl-embed -q -m "$T/ra/model.safetensors" --npy "$T/npy" -o "$T/e.ave" "$D/test.avs"
check embed_npy_files "test -s $T/npy/emb0.npy && test -s $T/npy/cert2.npy && test -s $T/npy/labels.npy && test -s $T/npy/ids.npy"
check embed_pipe_equals_file "avsl-embed -q -m $T/ra/model.safetensors $D/test.avs | cmp - $T/e.ave"
# a batch larger than the shard is capped at its records (memory, not numbers): the same bytes
check embed_batch_capped "avsl-embed -q -b 65536 -m $T/ra/model.safetensors $D/test.avs | cmp - $T/e.ave"
# The forward-only plan (activations reused) computes what the training plan (every activation kept, AVSL_FULL_PLAN=1)
# computes, bit for bit: frozen BN (AVSL), the baseline, BN with running statistics; whole and partial batches.
check embed_forward_plan_equals_full_plan "AVSL_FULL_PLAN=1 avsl-embed -q -m $T/ra/model.safetensors $D/test.avs | cmp - $T/e.ave"
check embed_forward_plan_equals_full_plan_b7 "cmp <(avsl-embed -q -b 7 -m $T/ra/model.safetensors $D/test.avs) \
	<(AVSL_FULL_PLAN=1 avsl-embed -q -b 7 -m $T/ra/model.safetensors $D/test.avs)"
check embed_forward_plan_equals_full_plan_baseline "cmp <(avsl-embed -q -m $T/rp/model.safetensors $D/test.avs) \
	<(AVSL_FULL_PLAN=1 avsl-embed -q -m $T/rp/model.safetensors $D/test.avs)"
# -v: the planned activation memory; training and evaluation plans, no evaluation plan without a test split
expect train_verbose_arena 0 empty 'activation arena: training [0-9.]+ MB \(batch 32\), evaluation [0-9.]+ MB \(forward-only, batch 64\)' \
	-- avsl-train -v "${DATA[@]}" "${SMALL[@]}" --not_freeze_bn --epochs 1 -o "$T/rv"
check embed_forward_plan_equals_full_plan_bn "cmp <(avsl-embed -q -b 5 -m $T/rv/model.safetensors $D/test.avs) \
	<(AVSL_FULL_PLAN=1 avsl-embed -q -b 5 -m $T/rv/model.safetensors $D/test.avs)"
expect train_verbose_no_eval_arena 0 empty 'activation arena: training [0-9.]+ MB \(batch 32\), no evaluation' \
	-- avsl-train -v --data_path "$D/train.avs" "${SMALL[@]}" --epochs 1 -o "$T/rw"
expect embed_verbose_arena 0 - 'activation arena: [0-9.]+ MB \(forward-only, batch 7\)' \
	-- avsl-embed -v -b 7 -m "$T/ra/model.safetensors" -o "$T/v.ave" "$D/test.avs"

# The pipeline's Recall@1 equals the trainer's evaluation of the same model (model.safetensors = best epoch).
best=$(grep '"best":true' "$T/ra/train.jsonl" | tail -n 1 | sed 's/.*"recall":{"1":\([0-9.e+-]*\).*/\1/')
r1=$(avsl-graph -q -m "$T/ra/model.safetensors" "$T/e.ave" | avsl-eval --json -k 1 | sed 's/.*"recall@1": *\([0-9.e+-]*\).*/\1/')
check pipeline_matches_trainer_recall "awk -v a='$best' -v b='$r1' 'BEGIN{exit !(a != \"\" && b != \"\" && (a - b) < 1e-6 && (b - a) < 1e-6)}'"
