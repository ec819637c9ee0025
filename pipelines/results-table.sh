#!/usr/bin/env bash
# pipelines/results-table.sh OUT TITLE "LABEL=FILE.json"...: the results table of a recipe: one row per model with
# the global Recall@K, MAP@R and R-Precision from avsl-eval --json (FILE relative to OUT), then the wall time of
# every stage recorded in OUT/time/. Reads only avsl-eval's own JSON, so plain sed suffices.
set -eu
out=$1 title=$2
shift 2
num() { # num KEY FILE: the first "KEY": value of the "global" object
	sed 's/.*"global": {\([^}]*\)}.*/\1/' "$2" | tr ',' '\n' | sed -n "s/^ *\"$1\": *\([0-9.eE+-]*\).*/\1/p" | head -n 1
}
echo "$title"
first=${1#*=}
ks=$(sed 's/.*"global": {\([^}]*\)}.*/\1/' "$out/$first" | tr ',' '\n' | sed -n 's/^ *"recall@\([0-9]*\)".*/\1/p')
printf '%-32s' "model"
for k in $ks; do printf ' %7s' "R@$k"; done
printf ' %7s %7s\n' "MAP@R" "RP"
for arg in "$@"; do
	label=${arg%%=*} file=$out/${arg#*=}
	printf '%-32s' "$label"
	for k in $ks; do printf ' %7.2f' "$(awk -v v="$(num "recall@$k" "$file")" 'BEGIN{print 100 * v}')"; done
	printf ' %7.2f %7.2f\n' "$(awk -v v="$(num map_at_r "$file")" 'BEGIN{print 100 * v}')" \
		"$(awk -v v="$(num r_precision "$file")" 'BEGIN{print 100 * v}')"
done
if [ -d "$out/time" ]; then
	echo
	echo "time per stage (s):"
	for f in "$out"/time/*; do printf '  %-16s %8s\n' "$(basename "$f")" "$(cat "$f")"; done
fi
