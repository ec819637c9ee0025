# tests/cli/lib.sh: golden tests for the command-line tools, sourced by tests/cli/*.sh.
#
#   expect NAME STATUS STDOUT_FILE STDERR_REGEX -- command args...
# runs the command and passes when its exit status is STATUS, its stdout equals STDOUT_FILE byte for byte
# ("-" = not compared, "empty" = must be empty) and its stderr matches the extended regex STDERR_REGEX
# ("" = not checked, "empty" = must be empty). Prints "PASS NAME" or "FAIL NAME: why" (the protocol of run.sh).
#
#   check NAME COMMAND...   passes when the shell command succeeds (for extra assertions on files).
set -u
: "${AVSL_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bin}"
: "${AVSL_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export PATH="$AVSL_BIN:$PATH"
# The CLI cases mean the CPU (the tools' paths run only there so far; bit-identical goldens): the default device of
# every tool (-d, device.h) is set here, also under `make check-cuda`, which exports AVSL_DEVICE=cuda for the op
# tests. A case about another device passes -d or sets AVSL_DEVICE itself (tests/cli/device.sh).
export AVSL_DEVICE=cpu
# `make check SANITIZE=1` sets AVSL_SAN_FLAGS: the helper programs the tests compile (cc_test) are built with the
# same sanitizer flags, which they need to link against an instrumented libavsl.a, and are checked like the tools.
: "${AVSL_SAN_FLAGS:=}"
cc_test() { ${CC:-cc} $AVSL_SAN_FLAGS "$@"; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
GOLDEN="$AVSL_ROOT/tests/cli/golden"

expect() {
	local name=$1 status=$2 out=$3 errre=$4
	shift 4
	[ "$1" = "--" ] && shift
	local got_status=0
	"$@" >"$T/out" 2>"$T/err" </dev/null || got_status=$?
	if [ "$got_status" != "$status" ]; then
		echo "FAIL $name: exit status $got_status, expected $status; stderr: $(head -c 300 "$T/err")"
		return
	fi
	if [ "$out" = empty ]; then
		if [ -s "$T/out" ]; then echo "FAIL $name: stdout not empty: $(head -c 200 "$T/out")"; return; fi
	elif [ "$out" != - ]; then
		if ! cmp -s "$T/out" "$out"; then
			echo "FAIL $name: stdout differs from $out:"
			diff "$out" "$T/out" | head -n 10 | sed 's/^/    /'
			return
		fi
	fi
	if [ "$errre" = empty ]; then
		if [ -s "$T/err" ]; then echo "FAIL $name: stderr not empty: $(head -c 200 "$T/err")"; return; fi
	elif [ -n "$errre" ] && ! grep -Eq -- "$errre" "$T/err"; then
		echo "FAIL $name: stderr does not match /$errre/: $(head -c 300 "$T/err")"
		return
	fi
	echo "PASS $name"
}

check() {
	local name=$1
	shift
	if bash -c "$*" >"$T/check.out" 2>&1; then
		echo "PASS $name"
	else
		echo "FAIL $name: $* -- $(tail -c 300 "$T/check.out")"
	fi
}

# synth DIR CLASSES PER_CLASS SIZE SEED: the synthetic IDX dataset of pipelines/synth/mksynth.c in DIR (created).
# The generator is compiled once per test script; a build failure is reported as a failed case and ends the script.
synth() {
	if [ ! -x "$T/mksynth" ] &&
		! cc_test -O2 "$AVSL_ROOT/pipelines/synth/mksynth.c" -o "$T/mksynth" -lm 2>"$T/cc.err"; then
		echo "FAIL build_mksynth: $(head -c 300 "$T/cc.err")"
		exit 1
	fi
	mkdir -p "$1" && "$T/mksynth" "$@"
}
