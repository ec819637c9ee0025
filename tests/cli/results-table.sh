#!/usr/bin/env bash
# pipelines/results-table.sh: each row shows the figure the paper reports for it. On the "six" set of avsl-eval.sh
# (metrics worked out by hand there): global R@1 0.8, R@2 1, R-Precision = MAP@R 0.7; over 2 query slices
# ([a b c], [d e f]) R@1 (1 + 1/2)/2 = 0.75, R@2 1, RP = MAP@R 2/3. A row marked @slices (the SOP AVSL row of sop.mk)
# shows the slice mean labelled "mean of 2 slices" with the global R@1 beside it; an unmarked row the global figure.
. "$(dirname "$0")/lib.sh"
cd "$AVSL_ROOT" || exit 1
D="$AVSL_ROOT/tests/cli/data"
cc_test -std=gnu11 -O1 -I"$AVSL_ROOT/formats" "$AVSL_ROOT/tests/cli/mkave.c" "$AVSL_BIN/../libavsl.a" -lm -o "$T/mkave" ||
	{ echo "FAIL build_mkave"; exit 1; }
"$T/mkave" <"$D/six.txt" >"$T/six.ave"
avsl-graph -q -o "$T/six.avg" "$T/six.ave"
mkdir -p "$T/run"
avsl-eval -q --json -k 1,2 --slice-mean 2 "$T/six.avg" >"$T/run/six.json"
avsl-eval -q --json -k 1,2 "$T/six.avg" >"$T/run/plain.json"

cat >"$T/want-sliced" <<'EOF'
title
model                      figure                  R@1     R@2   MAP@R      RP  global R@1
baseline                   global                80.00  100.00   70.00   70.00       80.00
AVSL                       mean of 2 slices      75.00  100.00   66.67   66.67       80.00
EOF
expect table_slice_mean 0 "$T/want-sliced" empty -- pipelines/results-table.sh "$T/run" title "baseline=six.json" \
	"AVSL=six.json@slices"
cat >"$T/want-global" <<'EOF'
title
model                                R@1     R@2   MAP@R      RP
baseline                           80.00  100.00   70.00   70.00
EOF
expect table_global 0 "$T/want-global" empty -- pipelines/results-table.sh "$T/run" title "baseline=plain.json"
expect table_no_slices 1 - 'plain.json: no slice mean' -- pipelines/results-table.sh "$T/run" title \
	"AVSL=plain.json@slices"
# The SOP recipe reports AVSL's slice mean (the paper's 79.6 is one) and the baseline's global figure (§7.2-7.3).
check sop_recipe_rows "grep -q '^AVSL_FIGURE := @slices' pipelines/sop.mk && grep -q 'AVSL=avsl/test.json\$(AVSL_FIGURE)' pipelines/paper.mk && ! grep -q AVSL_FIGURE pipelines/cub200.mk pipelines/cars196.mk"
