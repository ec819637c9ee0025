#!/usr/bin/env bash
# tests/fuzz/mkcorpus.sh: regenerate the generated seed files (gen-*) of tests/fuzz/corpus/ with mkcorpus.c, built
# against $BUILD/libavsl.a (make CUDA=0 BUILD=build-cpu first). The hand-made edge-* files are left alone.
#   BUILD=build-cpu tests/fuzz/mkcorpus.sh
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
C=tests/fuzz/corpus
for h in ave avg checkpoint idx image json safetensors shard; do
	mkdir -p "$C/$h"
	rm -f "$C/$h"/gen-*
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
${CC:-cc} -std=gnu11 -O1 -Iformats -Ilibcommon -Ikernels tests/fuzz/mkcorpus.c "$BUILD/libavsl.a" \
	$(grep -q AVSL_HAVE_CUDA "$BUILD/flags.stamp" && echo -L/usr/local/cuda/lib64 -lcudnn -lcublasLt -lcublas -lcudart -lstdc++) \
	-fopenmp -lzstd -ldnnl -lopenblas -ljpeg -lz -lm -lpthread -o "$tmp/mkcorpus"
"$tmp/mkcorpus" "$C"
echo "mkcorpus: $(ls "$C"/*/gen-* | wc -l) generated seed files in $C"
