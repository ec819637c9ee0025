#!/usr/bin/env bash
# pipelines/results-table.sh OUT TITLE "LABEL=FILE.json[@slices]"...: the results table of a recipe, one row per model
# with the figure the paper reports for it (FILE relative to OUT, written by avsl-eval --json): the "global" object,
# or with @slices the "slice_mean" object (avsl-eval --slice-mean: the official SOP protocol of the AVSL tester,
# avsl-method.md §7.3, §11-P10), labelled with the number of slices averaged. When a row uses @slices the table gets a
# "figure" column (global / mean of N slices) and the global Recall@1 beside every row. Then the wall time of every stage recorded in OUT/time/. Reads only avsl-eval's own JSON (one line, flat
# objects), so plain sed suffices.
set -eu
out=$1 title=$2
shift 2
obj() { # obj NAME FILE: the members of the top-level object NAME, one per line
	sed -n "s/.*\"$1\": {\([^}]*\)}.*/\1/p" "$2" | tr ',' '\n'
}
num() { # num OBJECT KEY FILE: the number KEY of OBJECT, in %, two decimals
	local v
	v=$(obj "$1" "$3" | sed -n "s/^ *\"$2\": *\([0-9.eE+-]*\).*/\1/p" | head -n 1)
	[ -n "$v" ] || { echo "results-table.sh: $3: no \"$2\" in \"$1\"" >&2; exit 1; }
	awk -v v="$v" 'BEGIN{printf "%.2f", 100 * v}'
}
echo "$title"
first=${1#*=}
first=${first%@slices}
ks=$(obj global "$out/$first" | sed -n 's/^ *"recall@\([0-9]*\)".*/\1/p')
case "$*" in *@slices*) sliced=1 ;; *) sliced=0 ;; esac
if [ $sliced = 1 ]; then printf '%-26s %-19s' "model" "figure"; else printf '%-32s' "model"; fi
for k in $ks; do printf ' %7s' "R@$k"; done
printf ' %7s %7s' "MAP@R" "RP"
if [ $sliced = 1 ]; then printf '  %s\n' "global R@1"; else echo; fi
for arg in "$@"; do
	label=${arg%%=*} spec=${arg#*=}
	file=$out/${spec%@slices}
	if [ "$spec" != "${spec%@slices}" ]; then
		o=slice_mean
		n=$(sed -n 's/.*"slice_mean": {"slices": [0-9]*, "formed": \([0-9]*\).*/\1/p' "$file")
		[ -n "$n" ] || { echo "results-table.sh: $file: no slice mean (run avsl-eval --slice-mean)" >&2; exit 1; }
		fig="mean of $n slices"
	else
		o=global fig=global
	fi
	if [ $sliced = 1 ]; then printf '%-26s %-19s' "$label" "$fig"; else printf '%-32s' "$label"; fi
	for k in $ks; do printf ' %7s' "$(num $o "recall@$k" "$file")"; done
	printf ' %7s %7s' "$(num $o map_at_r "$file")" "$(num $o r_precision "$file")"
	if [ $sliced = 1 ]; then printf '  %10s\n' "$(num global recall@1 "$file")"; else echo; fi
done
if [ -d "$out/time" ]; then
	echo
	echo "time per stage (s):"
	for f in "$out"/time/*; do printf '  %-16s %8s\n' "$(basename "$f")" "$(cat "$f")"; done
fi
