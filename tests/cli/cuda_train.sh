#!/usr/bin/env bash
# avsl-train -d cuda against -d cpu on the CUDA emulator (tests/cuda-emu: every kernels/cuda/*.cu file built for the
# host, device memory in its own region, so a host pointer handed to a device op, copy or kernel fails naming the
# op). The emulated run keeps parameters, gradients and Adam moments in device memory for the whole run.
#   - two training steps of the synthetic set (AVSL with frozen and with batch-statistics BN, then the Proxy-Anchor
#     baseline in both of its forms): every logged loss within 1e-5 relative; the epoch's test metrics (the
#     evaluation embeds and searches on the device) within 1e-6; the gradient norms of the first step's clipping
#     (-v) within 1e-5 relative; the checkpoints (parameters, BN statistics, AVSL links, Adam moments) within 1e-4
#     of each tensor's largest value (measured up to 8.4e-6 with frozen BN, 3.6e-5 with batch statistics: the
#     device sums convolutions, GEMMs and reductions in another order);
#   - the model trained on the device embeds (-d cuda) within 1e-4 of the CPU-trained model on the CPU;
#   - checkpoints are the same files on every device: a run trained one epoch on cuda resumes on cpu (and one
#     trained on cpu resumes on cuda) and ends within the same tolerance as two epochs on one device; a resume on
#     cuda ends bit-identical to an uninterrupted cuda run.
. "$(dirname "$0")/lib.sh"
EMU=$AVSL_BIN/../cuda-emu/bin
PY=/usr/bin/python3
DIFF=$AVSL_ROOT/tests/cli/devdiff.py
STDIFF=$AVSL_ROOT/tests/cli/stdiff.py
if [ ! -x "$EMU/avsl-train" ]; then
	echo "PASS cuda_train_skipped_no_emulator_build" # a CUDA=0 build has no emulated tools to compare
	exit 0
fi
D=$T/synth
synth "$D" 4 12 16 3
avsl-prep -q --layout idx --split train --classes 0-1 -o "$D/train.avs" "$D"
avsl-prep -q --layout idx --split test --classes 2-3 -o "$D/test.avs" "$D"
ARGS=(--data_path "$D/train.avs" --eval-data "$D/test.avs" --arch cifar_resnet18 --base-width 2 --channels 1 --input-size 16 --resize 0
	--mean 0.2 --std 0.3 --embeddings_dim 8 --topk_corr 3 --batch_size 12 --warm_up 0 --seed 5 --threads 1
	--log_every 1 --delete_old -v)

# losses of every step and epoch entry of two train.jsonl files, relative difference at most TOL, and the test
# metrics of the evaluations (Recall@K, MAP@R, R-Precision: the same neighbours, so equal within 1e-6)
losses_close() { # A B TOL
	$PY - "$1" "$2" "$3" <<'EOF'
import json, sys
def rows(p):
    return [r for r in map(json.loads, open(p))]
def metrics(r):
    return sorted(r.get("recall", {}).items()) + [(k, r[k]) for k in ("map_at_r", "r_precision") if k in r]
a, b, tol = rows(sys.argv[1]), rows(sys.argv[2]), float(sys.argv[3])
assert len(a) == len(b) and len(a) >= 3, "%d vs %d log entries" % (len(a), len(b))
worst = metric = 0.0
for ra, rb in zip(a, b):
    la, lb = sorted(ra["losses"].items()), sorted(rb["losses"].items())
    assert (ra["type"], ra["step"]) == (rb["type"], rb["step"]) and [k for k, _ in la] == [k for k, _ in lb]
    for (_, x), (_, y) in zip(la, lb):
        worst = max(worst, abs(x - y) / max(abs(y), 1e-12))
    ma, mb = metrics(ra), metrics(rb)
    assert [k for k, _ in ma] == [k for k, _ in mb], "metrics differ: %s vs %s" % (ma, mb)
    for (_, x), (_, y) in zip(ma, mb):
        metric = max(metric, abs(x - y))
evaluated = sum(1 for r in a if "recall" in r)
print("losses max_rel %.3g over %d entries; test metrics max_abs %.3g over %d evaluations" % (worst, len(a), metric,
      evaluated))
sys.exit(worst > tol or metric > 1e-6 or evaluated < 1)
EOF
}
# the gradient norms avsl-train -v prints when it clips, relative difference at most TOL
norms_close() { # A.err B.err TOL
	$PY - "$1" "$2" "$3" <<'EOF'
import re, sys
def norms(p):
    return [float(x) for l in open(p) if "gradient norms" in l for x in re.findall(r"(?:trunk|embedder|collector) ([0-9.eE+-]+)", l)]
a, b, tol = norms(sys.argv[1]), norms(sys.argv[2]), float(sys.argv[3])
assert len(a) == len(b) == 3, "norms: %s vs %s" % (a, b)
worst = max(abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a, b))
print("gradient norms max_rel %.3g (%s)" % (worst, " ".join("%.6g" % x for x in a)))
sys.exit(worst > tol)
EOF
}

pair() { # NAME ARGS...: two steps on the CPU and on the emulated device, compared
	local name=$1
	shift
	expect "${name}_cpu" 0 - "" -- avsl-train "${ARGS[@]}" --epochs 1 "$@" -d cpu -o "$T/$name-cpu"
	cp "$T/err" "$T/$name-cpu.err"
	expect "${name}_cuda" 0 - "cuda:0 \\+ 1 host threads" -- "$EMU/avsl-train" "${ARGS[@]}" --epochs 1 "$@" -d cuda \
		-o "$T/$name-cuda"
	cp "$T/err" "$T/$name-cuda.err"
	expect "${name}_losses_cuda_vs_cpu" 0 - "" -- losses_close "$T/$name-cuda/train.jsonl" "$T/$name-cpu/train.jsonl" 1e-5
	echo "# $name: $(cat "$T/out")"
	# every step and epoch record says which share of its time waited for the loader
	check "${name}_data_wait_logged" "$PY -c 'import json, sys; r = [json.loads(l) for l in open(\"$T/$name-cuda/train.jsonl\")]; sys.exit(not (len(r) == 3 and all(0 <= x[\"data_wait\"] <= 1 for x in r)))'"
	check "${name}_data_wait_verbose" "grep -Eq '^avsl-train: epoch 0: [0-9.]+% of the time waiting for data' '$T/$name-cuda.err'"
	expect "${name}_grad_norms_cuda_vs_cpu" 0 - "" -- norms_close "$T/$name-cuda.err" "$T/$name-cpu.err" 1e-5
	echo "# $name: $(cat "$T/out")"
	for f in model last; do
		expect "${name}_${f}_checkpoint_cuda_vs_cpu" 0 - "" -- \
			$PY "$STDIFF" "$T/$name-cuda/$f.safetensors" "$T/$name-cpu/$f.safetensors" 1e-4
		echo "# $name $f.safetensors: $(cat "$T/out")"
	done
	expect "${name}_adam_moments_cuda_vs_cpu" 0 - "" -- \
		$PY "$STDIFF" "$T/$name-cuda/last.safetensors" "$T/$name-cpu/last.safetensors" 1e-4 '^optim\.'
	# the device-trained model, embedded on the device, against the CPU-trained one on the CPU
	avsl-embed -q -t 1 -d cpu -m "$T/$name-cpu/model.safetensors" "$D/test.avs" -o "$T/$name-cpu.ave"
	expect "${name}_embed_cuda" 0 empty empty -- "$EMU/avsl-embed" -q -t 1 -d cuda \
		-m "$T/$name-cuda/model.safetensors" "$D/test.avs" -o "$T/$name-cuda.ave"
	expect "${name}_embed_of_cuda_model_vs_cpu" 0 - "" -- $PY "$DIFF" ave "$T/$name-cpu.ave" "$T/$name-cuda.ave" 1e-4
	echo "# $name embed: $(cat "$T/out")"
}
pair avsl
pair avsl_batch_stats --not_freeze_bn
pair baseline_distance --setting proxy_anchor --baseline-loss distance
pair baseline_cosine --setting proxy_anchor --baseline-loss cosine

# ---- out of device memory (the emulated device limited by EMU_DEVICE_MEM): one line naming the device, what does
# not fit, its size, the free and total memory and the flag to lower, exit 1, before the first step, no checkpoint
nomem='^avsl-train: cuda:0: out of device memory: the WHAT \([0-9.e+-]+ MB\) does not fit \([0-9.e+-]+ of 0\.[0-9]+ MB free\); lower the batch size \(--batch_size, and --test_batch_size for the evaluation\)$'
# what fails first as the device grows (4 KiB pages): the first plan's arena, the parameters, the gradients, the
# Adam moments, the training batch's arena
for case in 40K:activation_arena 120K:parameters 170K:gradients 220K:Adam_moments 400K:activation_arena; do
	lim=${case%%:*} what=${case#*:}
	expect "train_cuda_out_of_memory_$lim" 1 - "${nomem/WHAT/${what/_/ }}" -- env EMU_DEVICE_MEM=$lim "$EMU/avsl-train" \
		"${ARGS[@]}" --epochs 1 -d cuda -q -o "$T/oom-$lim"
	check "train_cuda_out_of_memory_${lim}_one_line" "test \$(wc -l <'$T/err') -eq 1"
	check "train_cuda_out_of_memory_${lim}_no_checkpoint" "test ! -e '$T/oom-$lim/last.safetensors' && test ! -e '$T/oom-$lim/model.safetensors'"
	echo "# $lim: $(cat "$T/err")"
done
expect embed_cuda_out_of_memory 1 empty '^avsl-embed: cuda:0: out of device memory: .+ does not fit \(.+ MB free\); lower the batch size \(-b\)$' -- \
	env EMU_DEVICE_MEM=200K "$EMU/avsl-embed" -q -t 1 -d cuda -m "$T/avsl-cpu/model.safetensors" "$D/test.avs" -o "$T/oom.ave"
check embed_cuda_out_of_memory_no_output "test ! -e '$T/oom.ave'"

# ---- checkpoints across devices: epoch 1 on one device, epoch 2 on the other, against two epochs on the CPU
avsl-train "${ARGS[@]}" --epochs 2 -d cpu -o "$T/two-cpu" 2>/dev/null
"$EMU/avsl-train" "${ARGS[@]}" --epochs 1 -d cuda -o "$T/c2c" 2>/dev/null
expect resume_cuda_run_on_cpu 0 - "" -- avsl-train --resume "$T/c2c/last.safetensors" --epochs 2 -d cpu -q
expect resume_cuda_run_on_cpu_vs_cpu 0 - "" -- \
	$PY "$STDIFF" "$T/c2c/last.safetensors" "$T/two-cpu/last.safetensors" 1e-4
echo "# cuda epoch 1 + cpu epoch 2 vs cpu: $(cat "$T/out")"
avsl-train "${ARGS[@]}" --epochs 1 -d cpu -o "$T/p2c" 2>/dev/null
expect resume_cpu_run_on_cuda 0 - "" -- "$EMU/avsl-train" --resume "$T/p2c/last.safetensors" --epochs 2 -d cuda -q
expect resume_cpu_run_on_cuda_vs_cpu 0 - "" -- \
	$PY "$STDIFF" "$T/p2c/last.safetensors" "$T/two-cpu/last.safetensors" 1e-4
echo "# cpu epoch 1 + cuda epoch 2 vs cpu: $(cat "$T/out")"
# bit-exact on one device: an interrupted-and-resumed cuda run equals an uninterrupted one
"$EMU/avsl-train" "${ARGS[@]}" --epochs 2 -d cuda -o "$T/two-cuda" 2>/dev/null
"$EMU/avsl-train" "${ARGS[@]}" --epochs 1 -d cuda -o "$T/c2c2" 2>/dev/null
"$EMU/avsl-train" --resume "$T/c2c2/last.safetensors" --epochs 2 -d cuda -q 2>/dev/null
for f in model last; do
	check "resume_on_cuda_bit_exact_$f" "$PY '$STDIFF' '$T/c2c2/$f.safetensors' '$T/two-cuda/$f.safetensors' 0"
done

# ---- avsl-explain -d cuda: the trunk's forward runs on the device (the level features come back), the attribution
# passes on the host: every number of a pair's JSON and of the faithfulness table within 1e-3 (absolute, on printed
# values: the features differ by ~1e-6), the sanity table's rank correlations (printed with 2 decimals) within one
# unit of their last digit, and the same words, orderings and verdicts
numbers_close() { # A B TOL: the same text with every number within TOL
	$PY - "$1" "$2" "$3" <<'PYEOF'
import re, sys
num = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
a, b = open(sys.argv[1]).read(), open(sys.argv[2]).read()
ta, tb = num.split(a), num.split(b)
assert ta == tb, "the texts differ beyond their numbers"
na, nb = [float(x) for x in num.findall(a)], [float(x) for x in num.findall(b)]
worst = max([abs(x - y) for x, y in zip(na, nb)] + [0.0])
print("%d numbers, max_abs %.3g" % (len(na), worst))
sys.exit(worst > float(sys.argv[3]))
PYEOF
}
M=$T/avsl-cpu/model.safetensors
S=$D/test.avs
explain_pair() { # NAME TOL ARGS...: the same explanation on the CPU and on the emulated device
	local name=$1 tol=$2
	shift 2
	expect "explain_${name}_cpu" 0 - "" -- avsl-explain "$@" -m "$M" --shard "$S" -d cpu -o "$T/x-$name-cpu"
	expect "explain_${name}_cuda" 0 - "" -- "$EMU/avsl-explain" "$@" -m "$M" --shard "$S" -d cuda -o "$T/x-$name-cuda"
	expect "explain_${name}_cuda_vs_cpu" 0 - "" -- numbers_close "$T/x-$name-cpu" "$T/x-$name-cuda" "$tol"
	echo "# explain $name: $(cat "$T/out")"
}
explain_pair pair 1e-3 --pair 0 5 --json
explain_pair faithfulness 1e-3 faithfulness --pairs 2 --steps 4 --resamples 100
explain_pair sanity 0.0101 sanity --pairs 2
