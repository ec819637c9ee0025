#!/usr/bin/env bash
# -d/--device in every tool that computes (avsl-train, avsl-embed, avsl-graph, avsl-eval, avsl-explain; avsl-prep only
# decodes and resizes images and has no device): the same names, the same messages, AVSL_DEVICE as the default and
# -d over it. On a machine without a usable CUDA device (this one: a CPU-only build, or CUDA built but no driver)
# -d cuda is refused in one line with the reason; on a GPU host it is refused in one line naming what has no CUDA
# implementation yet. Either way exit 1, before any output is written. avsl-graph, avsl-eval (its graph scored on the
# host) and avsl-embed (once the embedder ops have CUDA) run on CUDA: on a GPU host they succeed (results against
# the CPU's: tests/cli/cuda_emu.sh, on the CUDA emulator).
# --precision (avsl-train, avsl-embed, avsl-graph; parsed beside -d in libcommon/device.c, one help line): fp32 is
# the default and changes nothing; tf32 is a CUDA precision, refused on the CPU; bf16 is refused with its reason
# (this CPU has no avx512_bf16, or: no bf16 kernels are implemented yet), never run as fp32 under the bf16 name;
# auto runs the fastest precision the device offers that this build implements and says which on stderr. Every
# refusal is one line, exit 1, before anything is written; an unknown name is a usage error (exit 2).
. "$(dirname "$0")/lib.sh"
D=$T/synth
synth "$D" 4 12 16 3
avsl-prep -q --layout idx --split train --classes 0-1 -o "$D/train.avs" "$D"
avsl-prep -q --layout idx --split test --classes 2-3 -o "$D/test.avs" "$D"
TRAIN=(--data_path "$D/train.avs" --eval-data "$D/test.avs" --arch cifar_resnet18 --base-width 2 --channels 1
	--input-size 16 --resize 0 --mean 0.2 --std 0.3 --embeddings_dim 8 --topk_corr 3 --batch_size 12
	--test_batch_size 24 --warm_up 0 --epochs 1 --seed 5 --threads 1 --delete_old -q)
avsl-train "${TRAIN[@]}" -d cpu -o "$T/run" 2>"$T/train.err" ||
	{ echo "FAIL train_tiny_model: $(head -c 300 "$T/train.err")"; exit 1; }
M=$T/run/model.safetensors
S=$D/test.avs
avsl-embed -q -t 1 -d cpu -m "$M" "$S" -o "$T/test.ave"
avsl-graph -q --threads 1 -d cpu -m "$M" -k 5 "$T/test.ave" -o "$T/test.avg"

# One cheap run of each tool, its device flags first; every run writes $T/out-TOOL.
run() {
	local tool=$1
	shift
	case $tool in
	avsl-train) avsl-train "$@" "${TRAIN[@]}" -o "$T/out-train" ;;
	avsl-embed) avsl-embed -q -t 1 "$@" -m "$M" "$S" -o "$T/out-embed" ;;
	avsl-graph) avsl-graph -q --threads 1 "$@" -m "$M" -k 5 "$T/test.ave" -o "$T/out-graph" ;;
	avsl-eval) avsl-eval -q -k 1,2,4 --threads 1 "$@" "$T/test.avg" -o "$T/out-eval" ;;
	avsl-explain) avsl-explain -q -t 1 "$@" -m "$M" --shard "$S" --pair 0 1 -o "$T/out-explain" ;;
	esac
}
# run_env VALUE TOOL FLAGS...: run with AVSL_DEVICE=VALUE ("-": unset)
run_env() {
	local v=$1
	shift
	(if [ "$v" = - ]; then unset AVSL_DEVICE; else export AVSL_DEVICE="$v"; fi; run "$@")
}
one_line() { check "$1" "test \$(wc -l <'$T/err') -eq 1"; }
nocuda='(avsl was built without CUDA \(.+\)|CUDA: no usable device: .+|CUDA: no device .+)'

# the reason CUDA is refused on this machine, as a tool says it (empty on a machine with a usable device)
if avsl-eval -q -d cuda "$T/test.avg" >/dev/null 2>"$T/cuda.err"; then usable=1; else usable=0; fi
[ "$usable" = 0 ] && grep -Eq "^avsl-eval: --device cuda: $nocuda\$" "$T/cuda.err" || usable=1

# avsl-embed runs on CUDA once the AVSL embedder ops have CUDA implementations (op_list.h's flags)
embed_cuda=1
for op in avsl_pool_fwd avsl_cam_fwd avsl_certainty; do
	grep -Eq "^[[:space:]]*X\\($op, 1," "$AVSL_ROOT/kernels/op_list.h" || embed_cuda=0
done

for tool in avsl-train avsl-embed avsl-graph avsl-eval avsl-explain; do
	t=${tool#avsl-}
	expect "${t}_help_lists_device" 0 - empty -- "$tool" --help
	check "${t}_help_device_line" "$tool --help | grep -qxF '  -d, --device DEV       cpu, cuda, cuda:N or auto (default: \$AVSL_DEVICE, else auto)'"
	# the man page says the same about -d as every other page
	sed -n '/^\.It Fl d , -device/,/^\.It /p' "$AVSL_ROOT/man/$tool.1" | sed '$d' >"$T/man-$t"
	check "${t}_man_device_text" "grep -q 'Run on device' '$T/man-$t' && cmp -s '$T/man-$t' '$T/man-train'"

	rm -rf "$T/out-$t"
	expect "${t}_cpu" 0 - empty -- run "$tool" -d cpu
	check "${t}_cpu_wrote" "test -e '$T/out-$t'"
	expect "${t}_cpu_long_flag" 0 - empty -- run "$tool" --device cpu
	# AVSL_DEVICE is the default; -d wins over it
	expect "${t}_env_cpu" 0 - empty -- run_env cpu "$tool"
	expect "${t}_flag_over_env" 0 - empty -- run_env cuda "$tool" -d cpu
	expect "${t}_flag_over_bad_env" 0 - empty -- run_env gpu "$tool" -d cpu
	# neither: auto, silent when it falls back
	expect "${t}_default_auto_silent" 0 - empty -- run_env - "$tool"
	# CUDA runs this case's work (a GPU host, avsl-graph's avsl metric): auto takes it silently, -d cuda runs
	on_cuda=0
	[ "$usable" = 1 ] && { [ "$tool" = avsl-graph ] || [ "$tool" = avsl-eval ]; } && on_cuda=1
	[ "$usable" = 1 ] && [ "$tool" = avsl-embed ] && [ "$embed_cuda" = 1 ] && on_cuda=1
	if [ "$on_cuda" = 1 ]; then
		expect "${t}_auto_cuda" 0 - empty -- run "$tool" -d auto
	else
		# auto asked for: the CPU, saying why (no usable device, or this work has no CUDA path yet)
		expect "${t}_auto" 0 - "^$tool: --device auto: .+; using the CPU\$" -- run "$tool" -d auto
		one_line "${t}_auto_one_line"
		expect "${t}_env_auto" 0 - "^$tool: AVSL_DEVICE=auto: .+; using the CPU\$" -- run_env auto "$tool"
	fi

	# unknown names: a usage error (exit 2) naming the name and the choices
	for bad in gpu cuda:x CPU; do
		expect "${t}_bad_name_$bad" 2 empty "^$tool: --device: unknown device '$bad' \\(expected cpu, cuda, cuda:N(, auto or GPU ids| or auto)\\)\$" -- \
			run "$tool" -d "$bad"
	done
	expect "${t}_bad_env" 2 empty "^$tool: AVSL_DEVICE: unknown device 'tpu' \\(expected cpu, cuda, cuda:N or auto\\)\$" -- \
		run_env tpu "$tool"

	# CUDA: one line, exit 1, nothing written
	rm -rf "$T/out-$t"
	if [ "$usable" = 0 ]; then
		expect "${t}_cuda_unusable" 1 empty "^$tool: --device cuda: $nocuda\$" -- run "$tool" -d cuda
		one_line "${t}_cuda_one_line"
		expect "${t}_cuda1_unusable" 1 empty "^$tool: --device cuda:1: $nocuda\$" -- run "$tool" -d cuda:1
		expect "${t}_env_cuda_unusable" 1 empty "^$tool: AVSL_DEVICE=cuda: $nocuda\$" -- \
			run_env cuda "$tool"
		one_line "${t}_env_cuda_one_line"
	elif [ "$on_cuda" = 1 ]; then
		expect "${t}_cuda_runs" 0 - empty -- run "$tool" -d cuda
		rm -rf "$T/out-$t"
	else
		expect "${t}_cuda_not_implemented" 1 empty \
			"^$tool: --device cuda: cuda:0 has no implementation of .+ yet \\(missing: .+\\); use -d cpu\$" -- \
			run "$tool" -d cuda
		one_line "${t}_cuda_one_line"
	fi
	check "${t}_cuda_wrote_nothing" "test ! -e '$T/out-$t'"
done

# avsl-train also takes the official GPU id lists: one id is cuda:ID (refused here as cuda is)
if [ "$usable" = 0 ]; then
	expect train_gpu_id_is_cuda 1 empty "^avsl-train: --device cuda:0: $nocuda\$" -- run avsl-train --device 0
fi
# avsl-prep has no device: -d is not one of its options
expect prep_has_no_device 2 empty 'unrecognized|unknown|invalid' -- avsl-prep -d cpu -o "$T/p.avs" "$D"

# --precision
# what this CPU offers, from the kernel's view of cpuid (the tools read cpuid themselves)
if grep -qw avx512_bf16 /proc/cpuinfo; then
	bf16_why='bf16 CPU kernels are not implemented yet'
else
	bf16_why='this CPU has no avx512_bf16 instructions'
fi

for tool in avsl-train avsl-embed avsl-graph; do
	t=${tool#avsl-}
	check "${t}_precision_help_line" "$tool --help | grep -qxF '      --precision P      fp32, bf16, tf32 or auto: arithmetic of convolutions and GEMMs (fp32)'"
	check "${t}_precision_man" "grep -q '^\\.It Fl -precision Ar p' '$AVSL_ROOT/man/$tool.1'"

	rm -rf "$T/out-$t"
	expect "${t}_precision_fp32" 0 - empty -- run "$tool" -d cpu --precision fp32
	check "${t}_precision_fp32_wrote" "test -e '$T/out-$t'"
	expect "${t}_precision_auto" 0 - "^$tool: --precision auto: fp32 on cpu \\(bf16: $bf16_why\\)\$" -- run "$tool" -d cpu --precision auto
	one_line "${t}_precision_auto_one_line"

	rm -rf "$T/out-$t"
	expect "${t}_precision_tf32_refused" 1 empty "^$tool: --precision tf32: tf32 is a CUDA precision \\(the device is cpu\\); use fp32\$" -- \
		run "$tool" -d cpu --precision tf32
	one_line "${t}_precision_tf32_one_line"
	expect "${t}_precision_bf16_refused" 1 empty "^$tool: --precision bf16: $bf16_why; use fp32\$" -- run "$tool" -d cpu --precision bf16
	one_line "${t}_precision_bf16_one_line"
	check "${t}_precision_refused_wrote_nothing" "test ! -e '$T/out-$t'"
	for bad in fp16 BF16 ''; do
		expect "${t}_precision_bad_name_${bad:-empty}" 2 empty \
			"^$tool: --precision: unknown precision '$bad' \\(expected fp32, bf16, tf32 or auto\\)\$" -- \
			run "$tool" -d cpu --precision "$bad"
	done
done

# fp32 is the default: the same bytes with and without it
avsl-embed -q -t 1 -d cpu -m "$M" "$S" -o "$T/e-default.ave"
avsl-embed -q -t 1 -d cpu --precision fp32 -m "$M" "$S" -o "$T/e-fp32.ave"
check embed_fp32_is_default "cmp -s '$T/e-default.ave' '$T/e-fp32.ave'"
# --precision is a run-time choice like -d: not recorded in the checkpoint's configuration
check train_precision_not_stored "! avsl-train --print-config --precision fp32 ${TRAIN[*]} -o '$T/pc' | grep -q precision"
