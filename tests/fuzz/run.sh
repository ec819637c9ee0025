#!/usr/bin/env bash
# tests/fuzz/run.sh: run every libFuzzer harness built by `make fuzz` for FUZZ_S seconds, FUZZ_JOBS at a time, and
# print a table: harness, seconds, executions, findings. Called by `make fuzz`; HARNESSES="shard json" limits the set.
#   seeds:     tests/fuzz/corpus/NAME/ (committed, read only here)
#   work:      $BUILD/corpus/NAME/ (inputs the fuzzer found interesting; kept between runs)
#   findings:  $BUILD/findings/NAME-crash-*, -leak-*, -timeout-*, -oom-* (and the log $BUILD/logs/NAME.log)
# Exit status 1 when any harness reported a finding.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build-fuzz} FUZZ_S=${FUZZ_S:-60} FUZZ_JOBS=${FUZZ_JOBS:-1}
names=${HARNESSES:-$(for b in "$BUILD"/fuzz-bin/fuzz_*; do [ -x "$b" ] && basename "$b" | sed 's/^fuzz_//'; done)}
[ -n "$names" ] || { echo "fuzz: no harness in $BUILD/fuzz-bin (run make fuzz)" >&2; exit 1; }
mkdir -p "$BUILD/logs" "$BUILD/findings"
touch "$BUILD/logs/.start"

run_one() { # NAME: fuzz it for FUZZ_S seconds (ASan/UBSan inside; a 20 s hang or 2 GB is a finding too)
	local n=$1
	mkdir -p "$BUILD/corpus/$n"
	"$BUILD/fuzz-bin/fuzz_$n" -max_total_time="$FUZZ_S" -timeout="${FUZZ_TIMEOUT:-20}" -rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="$BUILD/findings/$n-" "$BUILD/corpus/$n" "tests/fuzz/corpus/$n" \
		>"$BUILD/logs/$n.log" 2>&1
	echo "$SECONDS" >"$BUILD/logs/$n.secs"
}
export -f run_one
export BUILD FUZZ_S
echo "fuzz: $(echo $names | wc -w) harnesses, $FUZZ_S s each, $FUZZ_JOBS at a time (logs: $BUILD/logs)"
printf '%s\n' $names | xargs -P "$FUZZ_JOBS" -I{} bash -c 'run_one {}'

bad=0
printf '%-12s %8s %12s %9s\n' harness seconds executions findings
for n in $names; do
	log=$BUILD/logs/$n.log
	execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -n 1 | awk '{print $2}')
	secs=$(cat "$BUILD/logs/$n.secs" 2>/dev/null)
	# findings of this run: the artifacts it wrote, or 1 when the log shows an error without one. A slow-unit
	# artifact (over libFuzzer's 10 s report threshold, below the -timeout hang limit) is not a finding: on a loaded
	# machine any input can take that long. It is listed with its time when run alone, to judge.
	found=$(find "$BUILD/findings" -name "$n-*" ! -name "$n-slow-unit-*" -newer "$BUILD/logs/.start" | wc -l)
	if [ "$found" -eq 0 ] && grep -qE '==ERROR|ERROR: libFuzzer|runtime error' "$log"; then found=1; fi
	printf '%-12s %8s %12s %9s\n' "$n" "${secs:-?}" "${execs:-?}" "$found"
	if [ "$found" != 0 ] || [ -z "$execs" ]; then
		bad=1
		grep -m3 -E 'ERROR|runtime error' "$log" | sed 's/^/    /'
		find "$BUILD/findings" -name "$n-*" ! -name "$n-slow-unit-*" -newer "$BUILD/logs/.start" | sed 's/^/    finding: /'
	fi
	for f in $(find "$BUILD/findings" -name "$n-slow-unit-*" -newer "$BUILD/logs/.start"); do
		t0=$(date +%s.%N)
		"$BUILD/fuzz-bin/fuzz_$n" "$f" >/dev/null 2>&1
		echo "    slow unit (not counted): $f, $(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "%.1f", a - b}') s alone"
	done
done
exit $bad
