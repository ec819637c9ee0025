#!/usr/bin/env bash
# CLI tests for avsl-explain on a tiny model trained here for one epoch (synthetic data, pipelines/synth/mksynth.c):
# usage errors, missing files, bad ids, the decomposition summing to d_f (text and JSON), d_f agreeing with the
# neighbour graph, PNG pictures (pair and board), the faithfulness table and the sanity checks.
. "$(dirname "$0")/lib.sh"
D=$T/synth
synth "$D" 6 24 16 3
avsl-prep -q --layout idx --split train --classes 0-2 -o "$D/train.avs" "$D"
avsl-prep -q --layout idx --split test --classes 3-5 -o "$D/test.avs" "$D"
avsl-train -q --data_path "$D/train.avs" --eval-data "$D/test.avs" --arch cifar_resnet18 --base-width 4 --channels 1 \
	--input-size 16 --resize 0 --mean 0.2 --std 0.3 --embeddings_dim 16 --topk_corr 4 --batch_size 24 \
	--test_batch_size 72 --warm_up 0 --epochs 1 --seed 5 --threads 1 -o "$T/run" 2>"$T/train.err" ||
	{ echo "FAIL train_tiny_model: $(head -c 300 "$T/train.err")"; exit 1; }
M=$T/run/model.safetensors
S=$D/test.avs
avsl-embed -q -t 1 -m "$M" "$S" -o "$T/test.ave"
avsl-graph -q --threads 1 -m "$M" -k 5 "$T/test.ave" -o "$T/test.avg"

# usage (exit 2)
expect no_args 2 empty 'Try .avsl-explain --help' -- avsl-explain
expect help 0 - empty -- avsl-explain --help
check help_names_modes "avsl-explain --help | grep -q 'faithfulness' && avsl-explain --help | grep -q -- '--graph'"
expect version 0 - empty -- avsl-explain -V
expect unknown_flag 2 empty 'unrecognized|unknown' -- avsl-explain --no-such-flag
expect no_model 2 empty 'MODEL' -- avsl-explain --shard "$S" --pair 0 1
expect no_pair 2 empty 'exactly one pair' -- avsl-explain -m "$M"
expect two_pairs 2 empty 'exactly one pair' -- avsl-explain -m "$M" --shard "$S" --pair 0 1 --images a b
expect pair_one_word 2 empty 'two arguments' -- avsl-explain -m "$M" --shard "$S" --pair 0
expect pair_needs_shard 2 empty 'shard' -- avsl-explain -m "$M" --pair 0 1
expect graph_needs_query 2 empty 'query' -- avsl-explain -m "$M" --shard "$S" --graph "$T/test.avg"
expect bad_number 2 empty 'pair' -- avsl-explain -m "$M" --shard "$S" --pair 0 x
expect stray_argument 2 empty 'unexpected' -- avsl-explain -m "$M" --shard "$S" --pair 0 1 extra
expect board_needs_png 2 empty 'png' -- avsl-explain board -m "$M" --shard "$S" --graph "$T/test.avg" --query 0
expect faith_needs_shard 2 empty 'shard' -- avsl-explain faithfulness -m "$M"

# runtime errors (exit 1), naming the file
expect missing_model 1 empty 'nope\.safetensors' -- avsl-explain -m "$T/nope.safetensors" --shard "$S" --pair 0 1
printf 'garbage' >"$T/bad.avs"
expect bad_shard 1 empty 'bad\.avs' -- avsl-explain -m "$M" --shard "$T/bad.avs" --pair 0 1
expect bad_id 1 empty 'record 100000: out of range' -- avsl-explain -m "$M" --shard "$S" --pair 0 100000
expect missing_image 1 empty 'nope\.png' -- avsl-explain -m "$M" --images "$T/nope.png" "$T/nope.png"
expect not_an_image 1 empty 'bad\.avs: cannot decode' -- avsl-explain -m "$M" --images "$T/bad.avs" "$T/bad.avs"
expect query_not_in_graph 1 empty 'query 9999: not in the graph' -- \
	avsl-explain -m "$M" --shard "$S" --graph "$T/test.avg" --query 9999
# a graph of another set: its ids/labels are not the shard's (train.avs holds classes 0-2, the graph 3-5)
expect graph_of_other_shard 1 empty 'test\.avg: query 0: query id 0 has label [0-9]+, but record 0 of .*train\.avs has label' -- \
	avsl-explain -m "$M" --shard "$D/train.avs" --graph "$T/test.avg" --query 0
expect board_graph_of_other_shard 1 empty 'test\.avg: .*train\.avs.*do not match' -- \
	avsl-explain board -m "$M" --shard "$D/train.avs" --graph "$T/test.avg" --query 0 --png "$T/other.png"
check board_other_shard_no_png "[ ! -e $T/other.png ] && ! ls $T/other.png.tmp.* 2>/dev/null"
expect rank_too_large 1 empty 'has 5 neighbours' -- avsl-explain -m "$M" --shard "$S" --graph "$T/test.avg" --query 0 --rank 6
expect not_a_checkpoint 1 empty 'test\.avg' -- avsl-explain -m "$T/test.avg" --shard "$S" --pair 0 1

# the decomposition: parts sum to d_f
expect text 0 - empty -- avsl-explain -m "$M" --shard "$S" --pair 0 5 -o "$T/pair.txt"
check text_sum_equals_df "awk '/^d_f = /{d=\$3; s=\$10; sub(/\\)/, \"\", s)} END{exit !(d > 0 && (d - s)^2 < 1e-12)}' $T/pair.txt"
check text_sources_sum_to_df "awk '/^d_f = /{d=\$3} /^sources/{s=\$8+\$11+\$14} END{exit !((d - s)^2 < 1e-10)}' $T/pair.txt"
check text_three_levels "[ \$(grep -c '^level [012] ' $T/pair.txt) -eq 3 ]"
check text_links "grep -q -- '->.*->' $T/pair.txt"
expect json 0 - empty -- avsl-explain -m "$M" --shard "$S" --pair 0 5 --json -o "$T/pair.json"
check json_keys "grep -q '\"d_f\":' $T/pair.json && grep -q '\"sum_h\":' $T/pair.json && grep -q '\"levels\":\[{\"level\":0' $T/pair.json && grep -q '\"paths\":\[{\"dims\":\[' $T/pair.json && grep -q '\"u_a\":' $T/pair.json && grep -q '\"pi\":' $T/pair.json"
check json_one_line "[ \$(wc -l <$T/pair.json) -eq 1 ]"
check json_parses "python3 -c 'import json,sys; d=json.load(open(\"$T/pair.json\")); assert abs(d[\"d_f\"]-d[\"sum_h\"])<1e-6*max(1,d[\"d_f\"]); assert len(d[\"levels\"])==3' 2>/dev/null || ! command -v python3 >/dev/null"
check json_matches_text "d=\$(sed 's/.*\"d_f\":\\([0-9.e+-]*\\).*/\\1/' $T/pair.json); t=\$(awk '/^d_f = /{print \$3}' $T/pair.txt); awk -v a=\"\$d\" -v b=\"\$t\" 'BEGIN{exit !((a-b)^2 < 1e-12)}'"

# by graph: the pair's d_f is the distance avsl-graph stored for that neighbour
avsl-explain -m "$M" --shard "$S" --graph "$T/test.avg" --query 4 --rank 2 --json -o "$T/g.json" 2>/dev/null
check graph_pair_is_query_and_neighbour "grep -q '\"a\":\"record 4\"' $T/g.json"
check graph_distance_equals_df "d=\$(sed 's/.*\"d_f\":\\([0-9.e+-]*\\).*/\\1/' $T/g.json); g=\$(sed 's/.*\"graph_dist\":\\([0-9.e+-]*\\).*/\\1/' $T/g.json); awk -v a=\"\$d\" -v b=\"\$g\" 'BEGIN{exit !(b > 0 && (a-b)^2 <= (1e-5*b)^2)}'"
expect board 0 empty empty -- avsl-explain board -m "$M" --shard "$S" --graph "$T/test.avg" --query 4 -k 4 --png "$T/board.png"
check board_is_png "[ \"\$(head -c 8 $T/board.png | od -An -tx1 | tr -d ' \\n')\" = 89504e470d0a1a0a ]"
# IHDR width and height: one row of 5 tiles of 112 px + 2 x 5 px frames, 10 px gaps: 670 x 202
check board_size "[ \"\$(od -An -tu1 -j16 -N8 $T/board.png | tr -s ' ')\" = ' 0 0 2 158 0 0 0 202' ]"

# pictures of a pair; images given as files (the board PNG itself is an image)
expect pair_png 0 - empty -- avsl-explain -m "$M" --shard "$S" --pair 0 5 --png "$T/pair.png" -o "$T/pair-png.txt"
# text and picture appear together or not at all: a picture that cannot be written leaves no text either
expect pair_png_fails_no_text 1 empty 'nodir/x\.png' -- \
	avsl-explain -m "$M" --shard "$S" --pair 0 5 --png "$T/nodir/x.png" -o "$T/x.txt"
check pair_png_fails_no_text_left "[ ! -e $T/x.txt ] && ! ls $T/x.txt.tmp.* 2>/dev/null"
check pair_png_written "[ \"\$(head -c 4 $T/pair.png | od -An -tx1 | tr -d ' \\n')\" = 89504e47 ]"
expect images 0 - empty -- avsl-explain -m "$M" --images "$T/board.png" "$T/pair.png" -o "$T/img.txt"
check images_named "grep -q '^a: .*board.png' $T/img.txt"
expect same_image_zero 0 - empty -- avsl-explain -m "$M" --shard "$S" --pair 3 3 --json -o "$T/same.json"
check same_image_distance_zero "grep -q '\"d_f\":0,' $T/same.json"

# faithfulness: every method and control in all four settings, intervals around the means, JSON with the same
expect faith 0 - empty -- avsl-explain faithfulness -m "$M" --shard "$S" --pairs 3 --steps 4 --resamples 200 -o "$T/faith.txt"
check faith_rows "for m in avsl cam-last grad avsl-l0 avsl-l1 avsl-l2 random-pixel random-l0 random-l1 random-l2 random-patch; do [ \$(grep -c \"^\$m \" $T/faith.txt) -eq 8 ] || exit 1; done"
check faith_settings "for s in pixel-mean pixel-blur patch-mean patch-blur; do grep -q \"^## \$s deletion\" $T/faith.txt && grep -q \"^## \$s insertion\" $T/faith.txt || exit 1; done"
check faith_three_pairs "grep -q 'over 3 pairs' $T/faith.txt && grep -q '200 resamples, seed 0' $T/faith.txt"
# the interval holds the mean; a win rate is a fraction of 3 pairs (ties 1/2)
check faith_interval_holds_mean "awk '/^avsl /{gsub(/[\\[\\],]/, \" \"); if (!(\$3 <= \$2 && \$2 <= \$4)) bad = 1; w = \$5 * 6; if (w != int(w + 0.5) && (w - int(w + 0.5))^2 > 1e-3) bad = 1; n++} END{exit bad || n != 8}' $T/faith.txt"
expect faith_json 0 - empty -- avsl-explain faithfulness -m "$M" --shard "$S" --pairs 2 --steps 4 --resamples 100 --json -o "$T/faith.json"
check faith_json_parses "python3 -c '
import json
d = json.load(open(\"$T/faith.json\"))
assert d[\"pairs\"] == 2 and d[\"resamples\"] == 100 and len(d[\"settings\"]) == 8
for s in d[\"settings\"]:
    assert len(s[\"maps\"]) == 11
    for m in s[\"maps\"]:
        assert m[\"lo\"] <= m[\"mean\"] + 1e-9 and m[\"mean\"] <= m[\"hi\"] + 1e-9
        assert len(m[\"vs\"]) == (4 if m[\"control\"] else 5)
'"
# the same pairs and seed give the same numbers as the text table (first row of the first block)
check faith_json_matches_text "avsl-explain faithfulness -m $M --shard $S --pairs 2 --steps 4 --resamples 100 -o $T/faith2.txt 2>/dev/null && t=\$(awk '/^avsl /{print \$2; exit}' $T/faith2.txt) && j=\$(python3 -c 'import json; print(\"%.4f\" % json.load(open(\"$T/faith.json\"))[\"settings\"][0][\"maps\"][0][\"mean\"])') && [ \"\$t\" = \"\$j\" ]"
expect sanity_needs_shard 2 empty 'sanity needs --shard' -- avsl-explain sanity -m "$M"
expect sanity 0 - empty -- avsl-explain sanity -m "$M" --shard "$S" --pairs 2 -o "$T/sanity.txt"
check sanity_cascades "grep -q '^## trunk cascade' $T/sanity.txt && grep -q '^## collector cascade' $T/sanity.txt && grep -q '^+stem ' $T/sanity.txt && grep -q '^+gates ' $T/sanity.txt && [ \$(grep -c '^verdict ' $T/sanity.txt) -eq 2 ]"
# the last-level CAM does not read the collector: unchanged maps (1.00 / 1.00), reported failing
check sanity_cam_fails_collector "awk '/^## collector/{c=1} c && /^\\+gates /{print \$5, \$6, \$7} c && /^verdict/{print \$3; exit}' $T/sanity.txt | tr '\\n' ' ' | grep -q '^1.00 / 1.00 FAIL'"
expect sanity_json 0 - empty -- avsl-explain sanity -m "$M" --shard "$S" --pairs 2 --json -o "$T/sanity.json"
check sanity_json_parses "python3 -c '
import json
d = json.load(open(\"$T/sanity.json\"))
assert d[\"pairs\"] == 2 and [c[\"cascade\"] for c in d[\"cascades\"]] == [\"trunk\", \"collector\"]
assert len(d[\"cascades\"][0][\"steps\"]) == 6 and len(d[\"cascades\"][0][\"verdict\"]) == 6
'"
