#!/usr/bin/env bash
# tests/run.sh: run every test and print one closing line "N passed, N failed".
#   unit tests:  build/tests/test_*   (lines "PASS name" / "FAIL name: ...")
#   CUDA emulator: build/cuda-emu/test_*  (the CUDA tests against every .cu file built for the host, tests/cuda-emu)
#   CLI tests:   tests/cli/*.sh       (same line protocol, see tests/cli/lib.sh)
#   fuzz replay: build/fuzz/fuzz_NAME over tests/fuzz/corpus/NAME (one case per harness)
#   lint:        make lint            (one case per man page)
# Exit status 1 if any case failed or any test program crashed.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
export AVSL_BIN="$PWD/$BUILD/bin" AVSL_ROOT="$PWD"
passed=0 failed=0
# reports of an earlier sanitizer run must not count against this one
[ -n "${AVSL_SAN_FLAGS:-}" ] && rm -rf "$BUILD/san-logs" && mkdir -p "$BUILD/san-logs"
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
	st=$? # before any $(...) below: a command substitution resets $?
	count "$(basename "$t")" $st
done
for t in "$BUILD"/cuda-emu/test_*; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	case $t in *.o | *.d) continue ;; esac
	"$t" >"$log" 2>&1
	st=$?
	count "cuda-emu/$(basename "$t")" $st
done
for t in tests/cli/*.sh; do
	[ "$(basename "$t")" = lib.sh ] && continue
	[ -f "$t" ] || continue
	bash "$t" >"$log" 2>&1
	st=$? # before any $(...) below: a command substitution resets $?
	count "cli/$(basename "$t" .sh)" $st
done
for t in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	"$t" "tests/fuzz/corpus/${n#fuzz_}" >"$log" 2>&1
	st=$?
	count "fuzz/${n#fuzz_}" $st
done
if [ -z "${SKIP_LINT:-}" ]; then
	make -s lint-cases >"$log" 2>&1
	count "lint" $?
fi
# make check SANITIZE=1 sends every ASan/LeakSanitizer report to a file there (Makefile SAN_ENV): each one is a
# failed case, whatever the exit status of the program that hit it. (UBSan reports go to stderr with exit status 86,
# which no test expects.)
if [ -n "${AVSL_SAN_FLAGS:-}" ]; then
	: >"$log"
	for r in "$BUILD"/san-logs/*; do
		[ -f "$r" ] || continue
		# The CUDA emulator runs a block's threads as coroutines (swapcontext): ASan warns once per process that
		# it does not fully support them. A report of that line alone is no finding; any other line still is.
		grep -qv "WARNING: ASan doesn't fully support makecontext/swapcontext functions" "$r" || continue
		echo "FAIL sanitizer $(basename "$r"): $(grep -m1 -E 'ERROR|runtime error' "$r" | head -c 300)" >>"$log"
		cp "$r" "$log.report" && sed -n '1,40p' "$log.report" >&2
	done
	grep -q '^FAIL' "$log" || echo "PASS sanitizer: no ASan/UBSan/LSan report" >"$log"
	count "sanitizer reports ($BUILD/san-logs)" 0
	rm -f "$log.report"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
