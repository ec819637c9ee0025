#!/usr/bin/env bash
# tests/cuda-emu/run.sh: build the kernels of kernels/cuda for the host (include/ stands in for the CUDA headers,
# one POSIX thread per CUDA thread) and run tests/unit/test_cuda against them. A developer aid for machines
# without a GPU: it checks kernel logic, never speed, and is no substitute for `make check-cuda` on a GPU host.
#   tests/cuda-emu/run.sh      (from the repository root; output in build/cuda-emu; about a minute on 2 cores)
# The sampled large-tile case of test_cuda is left out here (it alone takes minutes under emulation).
set -eu
cd "$(dirname "$0")/../.."
out=build/cuda-emu
mkdir -p "$out/src" "$out/obj"
CXX=${CXX:-g++}
CC=${CC:-cc}
flags="-O2 -g -pthread -Wall -Wextra -Wno-unused-parameter -Wno-unused-function"
objs=()
for cu in kernels/cuda/*.cu; do
	stem=$(basename "$cu" .cu)
	# k<<<g, b, s, st>>>(args)  ->  (emu_cfg(g, b, s, st) | &k)(args)
	python3 - "$cu" "$out/src/$stem.cpp" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
pat = re.compile(r'(\w+(?:<[^<>;()]*>)?)<<<(.*?)>>>\(', re.S)
open(sys.argv[2], 'w').write('#line 1 "%s"\n' % sys.argv[1] + pat.sub(lambda m: '(emu_cfg(%s) | &%s)(' % (m.group(2), m.group(1)), src))
PY
	$CXX -std=c++17 $flags -Itests/cuda-emu/include -Ikernels/cuda -Ikernels -Ilibcommon -c "$out/src/$stem.cpp" \
		-o "$out/obj/cu_$stem.o"
	objs+=("$out/obj/cu_$stem.o")
done
for c in libcommon/*.c kernels/*.c tests/unit/test_cuda.c; do
	o="$out/obj/$(echo "$c" | tr / _).o"
	$CC -std=gnu11 $flags -DAVSL_HAVE_CUDA=1 -DAVSL_CUDA_EMU=1 -I. -Ilibcommon -Ikernels -Iformats -Itests -c "$c" -o "$o"
	objs+=("$o")
done
$CXX -pthread "${objs[@]}" -lopenblas -lm -o "$out/test_cuda"
echo "cuda-emu: running $out/test_cuda against the host-emulated kernels" >&2
"$out/test_cuda"
