#!/usr/bin/env bash
# tests/bench/run.sh: run every benchmark script (tests/bench/*.sh) one after another. Each prints its own table
# with the peer measured in the same run and the ratio. `make bench` calls this; BENCH=name runs only one.
set -u
cd "$(dirname "$0")/../.." || exit 1
export AVSL_BIN="$PWD/${BUILD:-build}/bin" AVSL_BENCH_BIN="$PWD/${BUILD:-build}/bench"
status=0
for b in tests/bench/*.sh; do
	name=$(basename "$b" .sh)
	[ "$name" = run ] && continue
	[ -n "${BENCH:-}" ] && [ "$BENCH" != "$name" ] && continue
	echo "== bench $name"
	bash "$b" || { echo "bench $name failed" >&2; status=1; }
done
exit $status
