#!/usr/bin/env bash
# tests/run.sh: run every test and print one closing line "N passed, N failed".
#   unit tests:  build/tests/test_*   (lines "PASS name" / "FAIL name: ...")
#   CUDA emulator: build/cuda-emu/test_*  (the CUDA tests against every .cu file built for the host, tests/cuda-emu)
#   CLI tests:   tests/cli/*.sh       (same line protocol, see tests/cli/lib.sh)
#   lint:        make lint            (one case per man page)
# Exit status 1 if any case failed or any test program crashed.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export AVSL_BIN="$PWD/$BUILD/bin" AVSL_ROOT="$PWD"
passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() { # $1 = name of the program, reads its output in $log, $2 = its exit status
	local p f
	p=$(grep -c '^PASS ' "$log")
	f=$(grep -c '^FAIL ' "$log")
	grep '^FAIL ' "$log" | sed "s|^|  $1: |"
	if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "  $1: exited with status $2 without reporting a failed case"
		tail -n 5 "$log" | sed 's/^/    /'
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-40s %4d passed %4d failed\n' "$1" "$p" "$f"
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	"$t" >"$log" 2>&1
	count "$(basename "$t")" $?
done
for t in "$BUILD"/cuda-emu/test_*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	case $t in *.o | *.d) continue ;; esac
	"$t" >"$log" 2>&1
	count "cuda-emu/$(basename "$t")" $?
done
for t in tests/cli/*.sh; do
	[ "$(basename "$t")" = lib.sh ] && continue
	[ -f "$t" ] || continue
	# AVSL_DEVICE (make check-cuda sets it to require the GPU in the op tests) is not passed to the tools: the CLI
	# cases test the tools on their default device, and pass -d where they mean one.
	env -u AVSL_DEVICE bash "$t" >"$log" 2>&1
	count "cli/$(basename "$t" .sh)" $?
done
if [ -z "${SKIP_LINT:-}" ]; then
	make -s lint-cases >"$log" 2>&1
	count "lint" $?
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
