#!/usr/bin/env bash
# CLI golden tests for avsl-eval, on tiny sets whose metrics are worked out by hand below.
#
# six (data/six.txt): unit vectors at angles a 0, b 20, c 50, d 90, e 140, f 200 degrees (ids 10..15); labels
# a b c = 1, d e = 2, f = 3 (lone). Neighbour orders (by angle difference) and their labels:
#   a (R=2): b1 c1 d2 e2 f3   hits 1 1 0 0 0   R@1 1  P@2 1    P@4 2/4  RP 2/2 = 1  MAP (1/2)(1/1 + 2/2) = 1
#   b (R=2): a1 c1 d2 e2 f3   hits 1 1 0 0 0   R@1 1  P@2 1    P@4 2/4  RP 1        MAP 1
#   c (R=2): b1 d2 a1 e2 f3   hits 1 0 1 0 0   R@1 1  P@2 1/2  P@4 2/4  RP 1/2      MAP (1/2)(1/1) = 1/2
#   d (R=1): c1 e2 b1 a1 f3   hits 0 1 0 0 0   R@1 0  R@2 1  P@2 1/2  P@4 1/4  RP 0  MAP 0
#   e (R=1): d2 f3 c1 b1 a1   hits 1 0 0 0 0   R@1 1  P@2 1/2  P@4 1/4  RP 1        MAP 1
#   f: lone (no other item labelled 3): excluded, counted.
# Means over the 5 (printed as percentages, 80.00, unless --fraction): R@1 4/5 = 0.8, R@2 = R@4 = R@8 = 1, P@1 0.8, P@2 3.5/5 = 0.7, P@4 2/5 = 0.4,
#   P@8 (2+2+2+1+1)/8/5 = 0.2, R-Precision 3.5/5 = 0.7, MAP@R 3.5/5 = 0.7.
# --slice-mean 2: slices [a b c] and [d e f]: R@1 (1 + 1/2)/2 = 0.75; RP and MAP ((2.5/3) + (1/2))/2 = 2/3.
#
# ties (data/ties.txt): p (1,0) label 1, r (0,1) label 2, q (0,1) label 1, s (-1,0) label 2, in that order; every
# query has R = 1. Squared distances: r-q 0, p-r = p-q = s-r = s-q = 2, p-s 4. Equal distances are ordered by
# ascending gallery index (r before q):
#   p: r2 q1 s2  -> R@1 0, R@2 1          r: q1 p1 s2 -> R@1 0, R@2 0, R@4 1
#   q: r2 p1 s2  -> R@1 0, R@2 1          s: r2 q1 p1 -> R@1 1
# R@1 1/4, R@2 3/4, R@4 1; R-Precision = MAP@R = R@1 = 1/4. (Breaking the tie the other way gives R@1 3/4.)
. "$(dirname "$0")/lib.sh"
D="$AVSL_ROOT/tests/cli/data"
G="$GOLDEN"
: >"$T/empty"
cc_test -std=gnu11 -O1 -I"$AVSL_ROOT/formats" "$AVSL_ROOT/tests/cli/mkave.c" "$AVSL_BIN/../libavsl.a" -lm -o "$T/mkave" ||
	{ echo "FAIL build_mkave"; exit 1; }
"$T/mkave" <"$D/six.txt" >"$T/six.ave"
"$T/mkave" <"$D/ties.txt" >"$T/ties.ave"
avsl-graph -q -o "$T/six.avg" "$T/six.ave"
avsl-graph -q -o "$T/ties.avg" "$T/ties.ave"

expect help 0 - empty -- avsl-eval -h
expect version 0 - empty -- avsl-eval -V
expect unknown_option 2 empty "Try 'avsl-eval --help'" -- avsl-eval --bogus
expect k_zero 2 empty '^avsl-eval: -k 0: ' -- avsl-eval -k 0 "$T/six.avg"
expect k_garbage 2 empty '^avsl-eval: -k 1,x: ' -- avsl-eval -k 1,x "$T/six.avg"
expect slices_zero 2 empty '^avsl-eval: --slice-mean: ' -- avsl-eval --slice-mean 0 "$T/six.avg"
expect emb_avsl_metric 2 empty 'use avsl-graph -m' -- avsl-eval --emb "$T/six.ave" --metric avsl
expect emb_and_graphs 2 empty 'exclude each other' -- avsl-eval --emb "$T/six.ave" "$T/six.avg"

# goldens
expect six_table 0 "$G/eval-six.txt" 'lone' -- avsl-eval -k 1,2,4,8 -p "$T/six.avg"
expect six_quiet 0 "$G/eval-six.txt" empty -- avsl-eval -q -k 1,2,4,8 -p "$T/six.avg"
# percentages by default (the table above: R@1 80.00, ...); --fraction gives the same values as fractions
expect six_fraction 0 "$G/eval-six-fraction.txt" empty -- avsl-eval -q --fraction -k 1,2,4,8 -p "$T/six.avg"
expect six_slices 0 "$G/eval-six-slices.txt" '' -- avsl-eval -q -k 1,2 --slice-mean 2 "$T/six.avg"
expect ties_json 0 "$G/eval-ties.json" empty -- avsl-eval -q -k 1,2,4 --json "$T/ties.avg"
check six_through_pipe "avsl-graph -q '$T/six.ave' | avsl-eval -q -k 1,2,4,8 -p | cmp - '$G/eval-six.txt'"
check six_from_stdin_dash "avsl-eval -q -k 1,2,4,8 -p - <'$T/six.avg' | cmp - '$G/eval-six.txt'"
expect six_emb 0 "$G/eval-six.txt" empty -- avsl-eval -q -k 1,2,4,8 -p --emb "$T/six.ave"
check output_file "avsl-eval -q -k 1,2,4,8 -p -o '$T/o.txt' '$T/six.avg' | cmp - '$T/empty' && cmp '$T/o.txt' '$G/eval-six.txt'"
check lone_warning "avsl-eval -k 1 '$T/six.avg' 2>&1 >/dev/null | grep -q '^avsl-eval: 1 of 6 queries have no other item of their class (lone)'"

# shard parts read one after another equal the whole graph
for i in 0 1 2; do avsl-graph -q --shard $i/3 -o "$T/p$i.avg" "$T/six.ave"; done
expect shard_parts 0 "$G/eval-six.txt" empty -- avsl-eval -q -k 1,2,4,8 -p "$T/p0.avg" "$T/p1.avg" "$T/p2.avg"
expect shard_parts_slices 0 "$G/eval-six-slices.txt" empty -- avsl-eval -q -k 1,2 --slice-mean 2 "$T/p0.avg" "$T/p1.avg" "$T/p2.avg"

# k < R: a, b and c (R = 2) get one neighbour; R-Precision and MAP@R use what is there: a 1/2, b 1/2, c 1/2, d 0, e 1
avsl-graph -q -k 1 -o "$T/k1.avg" "$T/six.ave"
check truncated_warning "avsl-eval -k 1 '$T/k1.avg' 2>&1 >/dev/null | grep -q '3 queries have more relevant items than neighbours'"
check truncated_values "avsl-eval -q -k 1 --json '$T/k1.avg' | grep -q '\"truncated\": 3, .*\"recall@1\": 0.800000, \"r_precision\": 0.500000, \"map_at_r\": 0.500000'"

# bad input: one line naming the file, exit 1
expect k_above_graph 1 empty "^avsl-eval: $T/k1.avg: Recall@2 needs 2 neighbours per query, the graph has k = 1\$" -- avsl-eval -k 1,2 "$T/k1.avg"
expect slices_above_queries 1 empty '^avsl-eval: .*--slice-mean 7: only 6 queries' -- avsl-eval --slice-mean 7 "$T/six.avg"
head -c -7 "$T/six.avg" >"$T/trunc.avg"
expect truncated_graph 1 empty "^avsl-eval: $T/trunc.avg: " -- avsl-eval "$T/trunc.avg"
check truncated_graph_one_line "[ \$(avsl-eval '$T/trunc.avg' 2>&1 | wc -l) = 1 ]"
printf 'GARBAGE!GARBAGE!GARBAGE!GARBAGE!GARBAGE!GARBAGE!GARBAGE!GARBAGE!' >"$T/magic.avg"
expect wrong_magic 1 empty "^avsl-eval: $T/magic.avg: " -- avsl-eval "$T/magic.avg"
expect embeddings_as_graph 1 empty "^avsl-eval: $T/six.ave: " -- avsl-eval "$T/six.ave"
expect missing_file 1 empty "^avsl-eval: $T/nope.avg: " -- avsl-eval "$T/nope.avg"
avsl-graph -q --metric cosine -o "$T/cos.avg" "$T/six.ave"
expect mixed_metrics 1 empty 'metric cosine differs from the previous graph.s l2' -- avsl-eval -k 1 "$T/six.avg" "$T/cos.avg"
printf '1 2 0\n1 5 1 0\n2 6 0 1\n' | "$T/mkave" >"$T/alllone.ave"
expect all_lone 1 empty 'every query is lone' -- avsl-eval -q -k 1 --emb "$T/alllone.ave"

# The whole pipeline on a tiny synthetic dataset: avsl-embed | avsl-graph -m | avsl-eval must give the figures the
# trainer's own in-memory evaluation logged for the same model (two independent implementations of method §7.1).
if [ -x "$AVSL_BIN/avsl-train" ] && [ -x "$AVSL_BIN/avsl-embed" ] && [ -x "$AVSL_BIN/avsl-prep" ] &&
	[ -f "$AVSL_ROOT/pipelines/synth/mksynth.c" ]; then
	cc_test -O1 "$AVSL_ROOT/pipelines/synth/mksynth.c" -lm -o "$T/mksynth" && mkdir -p "$T/syn" &&
		"$T/mksynth" "$T/syn" 4 6 12 3 && avsl-prep -q -o "$T/s" --layout idx "$T/syn" &&
		avsl-train -q --data_path "$T/s-train.avsm" --eval-data "$T/s-test.avsm" -o "$T/run" \
			--model cifar_resnet18 --base-width 2 --feature_dim_list 4 8 16 --embeddings_dim 8 --topk_corr 3 \
			--batch_size 12 --epochs 1 --input-size 12 --resize 0 --channels 1 --mean 0.5 --std 0.25 \
			--test_batch_size 24 --warm_up 0 --device cpu --threads 2 >"$T/train.out" 2>&1
	check pipeline_embed_graph_eval "set -o pipefail; avsl-embed -q -m '$T/run/model.safetensors' -d cpu '$T/s-test.avsm' |
		avsl-graph -q -m '$T/run/model.safetensors' | avsl-eval -q -k 1,2,4,8 --json >'$T/pipe.json'"
	check pipeline_metric_is_avsl "avsl-embed -q -m '$T/run/model.safetensors' -d cpu '$T/s-test.avsm' |
		avsl-graph -q -m '$T/run/model.safetensors' | dd bs=1 skip=24 count=4 2>/dev/null | grep -qx avsl"
	check pipeline_equals_trainer_eval "/usr/bin/python3 -c \"
import json
ours = json.load(open('$T/pipe.json'))['global']
ev = [json.loads(l) for l in open('$T/run/train.jsonl') if '\\\"map_at_r\\\"' in l][-1]
for k in ('1', '2', '4', '8'):
    assert abs(ours['recall@' + k] - ev['recall'][k]) < 1e-6, (k, ours, ev)
assert abs(ours['map_at_r'] - ev['map_at_r']) < 1e-6 and abs(ours['r_precision'] - ev['r_precision']) < 1e-6
\""
fi
