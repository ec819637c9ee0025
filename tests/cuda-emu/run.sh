#!/usr/bin/env bash
# tests/cuda-emu/run.sh: build the CUDA tests against the host emulator and run them (make check does the same).
# Every kernels/cuda/*.cu file is compiled by g++ with include/ standing in for the CUDA runtime, cuDNN and cuBLAS
# (the threads of a block run as coroutines on the launching thread; convolutions and GEMMs by the naive CPU
# references / OpenBLAS; device memory from a region of its own, so host/device mix-ups are refused). It checks kernel logic, never speed, and is no
# substitute for `make check-cuda` on a GPU host. Large cases are sampled (see AVSL_CUDA_EMU in the tests).
#   tests/cuda-emu/run.sh      (from anywhere; BUILD=build-cpu for the CPU-only development build)
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
cuda=auto
[ -f "$BUILD/flags.stamp" ] && ! grep -q -- -DAVSL_HAVE_CUDA "$BUILD/flags.stamp" && cuda=0
make -s -j"$(nproc)" BUILD="$BUILD" CUDA=$cuda "$BUILD"/cuda-emu/test_backend_ops "$BUILD"/cuda-emu/test_cuda "$BUILD"/cuda-emu/test_cuda_trunk
status=0
for t in "$BUILD"/cuda-emu/test_backend_ops "$BUILD"/cuda-emu/test_cuda "$BUILD"/cuda-emu/test_cuda_trunk; do
	"$t" || status=1
done
exit $status
