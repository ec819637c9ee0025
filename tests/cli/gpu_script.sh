#!/usr/bin/env bash
# tests/gpu/run.sh (the prepared GPU check, issue 13) on a machine without a GPU: it parses (bash -n), runs to the
# end in seconds without building or running anything, and prints its table: the header, "GPU: none", and every
# row saying it was skipped for want of a GPU (the torch row says why torch did not run). An nvidia-smi that lists
# no GPU stands first in PATH, so the case means "no GPU" on a GPU host too (where make check-cuda runs this file).
. "$(dirname "$0")/lib.sh"
S=$AVSL_ROOT/tests/gpu/run.sh
check gpu_script_parses "bash -n '$S'"
mkdir -p "$T/nosmi"
printf '#!/bin/sh\nexit 0\n' >"$T/nosmi/nvidia-smi"
chmod +x "$T/nosmi/nvidia-smi"
expect gpu_script_no_gpu 0 - empty -- env PATH="$T/nosmi:$PATH" GPU_WORK="$T/work" bash "$S"
cp "$T/out" "$T/table"
check gpu_script_header "grep -qxF '| row                    | result                                   | notes |' '$T/table'"
check gpu_script_says_no_gpu "grep -qx 'GPU: none: nothing was run on a GPU' '$T/table'"
for r in "make check-cuda" "cpu-vs-cuda epoch" "train fp32" "train tf32" "train bf16" "embed fp32" "graph fp32" \
	"graph 60,502 fp32" "peak device memory"; do
	check "gpu_script_row_${r// /_}" "grep -Eq '^\\| $r +\\| skipped +\\| no GPU' '$T/table'"
done
check gpu_script_torch_row "grep -Eq '^\\| torch bf16 +\\| not run +\\| .+' '$T/table'"
check gpu_script_built_nothing "test ! -e '$T/work/build.log'"
