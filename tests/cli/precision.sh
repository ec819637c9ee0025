#!/usr/bin/env bash
# --precision on avsl-train, avsl-embed and avsl-graph (libcommon/device.c, one parser and one help line): fp32 is
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

# run TOOL FLAGS...: one cheap CPU run of the tool, writing $T/out-TOOL
run() {
	local tool=$1
	shift
	case $tool in
	avsl-train) avsl-train "$@" "${TRAIN[@]}" -d cpu -o "$T/out-train" ;;
	avsl-embed) avsl-embed -q -t 1 -d cpu "$@" -m "$M" "$S" -o "$T/out-embed" ;;
	avsl-graph) avsl-graph -q --threads 1 -d cpu "$@" -m "$M" -k 5 "$T/test.ave" -o "$T/out-graph" ;;
	esac
}
one_line() { check "$1" "test \$(wc -l <'$T/err') -eq 1"; }
# what this CPU offers, from the kernel's view of cpuid (the tools read cpuid themselves)
if grep -qw avx512_bf16 /proc/cpuinfo; then
	bf16_why='bf16 CPU kernels are not implemented yet'
else
	bf16_why='this CPU has no avx512_bf16 instructions'
fi

for tool in avsl-train avsl-embed avsl-graph; do
	t=${tool#avsl-}
	check "${t}_help_precision_line" "$tool --help | grep -qxF '      --precision P      fp32, bf16, tf32 or auto: arithmetic of convolutions and GEMMs (fp32)'"
	check "${t}_man_precision" "grep -q '^\\.It Fl -precision Ar p' '$AVSL_ROOT/man/$tool.1'"

	rm -rf "$T/out-$t"
	expect "${t}_fp32" 0 - empty -- run "$tool" --precision fp32
	check "${t}_fp32_wrote" "test -e '$T/out-$t'"
	expect "${t}_auto" 0 - "^$tool: --precision auto: fp32 on cpu \\(bf16: $bf16_why\\)\$" -- run "$tool" --precision auto
	one_line "${t}_auto_one_line"

	rm -rf "$T/out-$t"
	expect "${t}_tf32_refused" 1 empty "^$tool: --precision tf32: tf32 is a CUDA precision \\(the device is cpu\\); use fp32\$" -- \
		run "$tool" --precision tf32
	one_line "${t}_tf32_one_line"
	expect "${t}_bf16_refused" 1 empty "^$tool: --precision bf16: $bf16_why; use fp32\$" -- run "$tool" --precision bf16
	one_line "${t}_bf16_one_line"
	check "${t}_refused_wrote_nothing" "test ! -e '$T/out-$t'"
	for bad in fp16 BF16 ''; do
		expect "${t}_bad_name_${bad:-empty}" 2 empty \
			"^$tool: --precision: unknown precision '$bad' \\(expected fp32, bf16, tf32 or auto\\)\$" -- \
			run "$tool" --precision "$bad"
	done
done

# fp32 is the default: the same bytes with and without it
avsl-embed -q -t 1 -d cpu -m "$M" "$S" -o "$T/e-default.ave"
avsl-embed -q -t 1 -d cpu --precision fp32 -m "$M" "$S" -o "$T/e-fp32.ave"
check embed_fp32_is_default "cmp -s '$T/e-default.ave' '$T/e-fp32.ave'"
# --precision is a run-time choice like -d: not recorded in the checkpoint's configuration
check train_precision_not_stored "! avsl-train --print-config --precision fp32 ${TRAIN[*]} -o '$T/pc' | grep -q precision"
