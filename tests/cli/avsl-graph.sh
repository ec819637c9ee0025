#!/usr/bin/env bash
# CLI golden tests for avsl-graph. Inputs are written by mkave (tests/cli/mkave.c, through formats/emb.h); the
# graph bytes are compared between ways of computing the same graph (file/pipe/stream, tiles, threads, shards), and
# the graph's content is checked through avsl-eval's hand-worked goldens (tests/cli/avsl-eval.sh).
. "$(dirname "$0")/lib.sh"
D="$AVSL_ROOT/tests/cli/data"
: >"$T/empty"
cc_test -std=gnu11 -O1 -I"$AVSL_ROOT/formats" "$AVSL_ROOT/tests/cli/mkave.c" "$AVSL_BIN/../libavsl.a" -lm -o "$T/mkave" ||
	{ echo "FAIL build_mkave"; exit 1; }
"$T/mkave" <"$D/six.txt" >"$T/six.ave"
"$T/mkave" --stream <"$D/six.txt" >"$T/six-stream.ave"
"$T/mkave" <"$D/ties.txt" >"$T/ties.ave"
# 300 random 3-level items (dims 16, 8, 4) in 37 classes, fixed seed
awk 'BEGIN { srand(7); print "3 16 8 4 0"; for (i = 0; i < 300; i++) { printf "%d %d", 5000 + i, i % 37;
	for (j = 0; j < 28; j++) printf " %.6f", rand() * 2 - 1; print "" } }' >"$T/rand.txt"
"$T/mkave" <"$T/rand.txt" >"$T/rand.ave"

# usage and help
expect help 0 - empty -- avsl-graph -h
check help_mentions_metrics "avsl-graph --help | grep -q 'avsl | levels | level:N | l2 | cosine'"
expect version 0 - empty -- avsl-graph -V
expect unknown_option 2 empty "Try 'avsl-graph --help'" -- avsl-graph --bogus
expect k_zero 2 empty '^avsl-graph: -k: ' -- avsl-graph -k 0 "$T/six.ave"
expect k_not_a_number 2 empty '^avsl-graph: -k: ' -- avsl-graph -k 1x "$T/six.ave"
expect k_too_large 2 empty '^avsl-graph: -k: .*out of range' -- avsl-graph -k 70000 "$T/six.ave"
expect bad_metric 2 empty '^avsl-graph: --metric foo: ' -- avsl-graph --metric foo "$T/six.ave"
expect bad_shard 2 empty '^avsl-graph: --shard 4/4: ' -- avsl-graph --shard 4/4 "$T/six.ave"
expect bad_shard_syntax 2 empty '^avsl-graph: --shard 2: ' -- avsl-graph --shard 2 "$T/six.ave"
expect two_inputs 2 empty 'one embeddings file expected' -- avsl-graph "$T/six.ave" "$T/six.ave"
expect both_stdin 2 empty 'cannot both be standard input' -- avsl-graph -g - -

# bad input: one line naming the file, exit 1
printf 'NOTANAVEFILE-0123456789012345678901234567890123456789012345678901234567890123' >"$T/magic.ave"
expect wrong_magic 1 empty "^avsl-graph: $T/magic.ave: .*" -- avsl-graph "$T/magic.ave"
head -c -6 "$T/six.ave" >"$T/trunc.ave"
expect truncated 1 empty "^avsl-graph: $T/trunc.ave: .*" -- avsl-graph "$T/trunc.ave"
check truncated_one_line "! avsl-graph '$T/trunc.ave' 2>&1 >/dev/null | sed -n 2p | grep -q ."
expect empty_input 1 empty '^avsl-graph: ' -- avsl-graph "$T/empty"
expect missing_file 1 empty "^avsl-graph: $T/nope.ave: " -- avsl-graph "$T/nope.ave"
expect level_out_of_range 1 empty 'level:3: the embeddings have 1 level' -- avsl-graph --metric level:3 "$T/six.ave"
expect avsl_needs_model 1 empty 'metric avsl' -- avsl-graph --metric avsl "$T/six.ave"
printf '1 3 0\n1 0 1 2 3\n2 0 3 2 1\n' | "$T/mkave" >"$T/dim3.ave"
expect gallery_dims_differ 1 empty 'level 0: query dimension 2, gallery 3' -- avsl-graph -g "$T/dim3.ave" "$T/six.ave"
expect gallery_levels_differ 1 empty 'query has 1 levels, gallery 3' -- avsl-graph -g "$T/rand.ave" "$T/six.ave"

# the same graph, however it is computed
avsl-graph -q -o "$T/ref.avg" "$T/six.ave"
expect to_stdout_equals_file 0 "$T/ref.avg" empty -- avsl-graph -q "$T/six.ave"
check through_pipe "cat '$T/six.ave' | avsl-graph -q | cmp - '$T/ref.avg'"
check counted_vs_streamed_input "avsl-graph -q '$T/six-stream.ave' | cmp - '$T/ref.avg'"
check output_file_only "avsl-graph -q -o '$T/o.avg' '$T/six.ave' | cmp - '$T/empty' && cmp '$T/o.avg' '$T/ref.avg'"
# -o onto a FIFO (or a device such as /dev/null) writes through it instead of renaming a file over it
mkfifo "$T/fifo"
(timeout 20 cat "$T/fifo" >"$T/fifo.out" &)
check output_to_fifo "timeout 20 avsl-graph -q -o '$T/fifo' '$T/six.ave' && [ -p '$T/fifo' ] && sleep 0.2 && cmp '$T/fifo.out' '$T/ref.avg'"
check progress_on_stderr "avsl-graph -o '$T/p.avg' '$T/six.ave' 2>&1 | grep -q 'graph done: 6 queries'"
for m in l2 cosine levels level:1; do
	avsl-graph -q --metric $m -o "$T/r-$m.avg" "$T/rand.ave"
	check "tiles_threads_$m" "avsl-graph -q --metric $m --tile 7 --threads 2 '$T/rand.ave' | cmp - '$T/r-$m.avg'"
	check "one_tile_$m" "avsl-graph -q --metric $m --tile 1000 --threads 1 '$T/rand.ave' | cmp - '$T/r-$m.avg'"
	# shard parts: each has its own 64-byte header; the records concatenate to the whole graph's records
	for i in 0 1 2; do avsl-graph -q --metric $m --shard $i/3 --tile 16 -o "$T/part$i.avg" "$T/rand.ave"; done
	check "shards_$m" "cmp <(for i in 0 1 2; do tail -c +65 '$T/part'\$i.avg; done) <(tail -c +65 '$T/r-$m.avg')"
done
check shard_header_counts "[ \$(od -An -tu8 -j16 -N8 '$T/part0.avg') = 100 ] && [ \$(od -An -tu8 -j16 -N8 '$T/part2.avg') = 100 ]"
check metric_in_header "[ \"\$(dd if='$T/r-level:1.avg' bs=1 skip=24 count=7 2>/dev/null)\" = level:1 ]"

# default k: max(100, largest class size - 1), written even when the gallery is smaller (records hold fewer)
check default_k_100 "[ \$(od -An -tu4 -j12 -N4 '$T/ref.avg') = 100 ]"
check explicit_k "[ \$(avsl-graph -q -k 3 '$T/six.ave' | od -An -tu4 -j12 -N4) = 3 ]"

# separate gallery: no self exclusion, so the query's copy comes first at distance 0 and counts as relevant
check separate_gallery "avsl-graph -q -g '$T/six.ave' '$T/six.ave' | avsl-eval -q -k 1 --json | grep -q '\"recall@1\": 1.000000'"

# --dense: the full matrix as .npy (symmetric, zero diagonal, squared distances in [0, 4])
check dense_npy "avsl-graph -q --dense '$T/d.npy' -o '$T/dense-graph.avg' '$T/six.ave' && /usr/bin/python3 -c \"
import numpy as np; d = np.load('$T/d.npy'); assert d.shape == (6, 6) and d.dtype == np.float32
assert np.array_equal(d, d.T) and np.all(np.diag(d) == 0) and d.min() >= 0 and d.max() <= 4
assert abs(d[0, 3] - 2) < 1e-5 and abs(d[4, 5] - 1) < 1e-5\""

# --metric avsl end to end against the PyTorch reference (tests/golden/avsl_dist.safetensors, written by the AVSL
# head's reference script: a collector, 5 query and 7 gallery items with certainties, and their d_f). Runs once the
# AVSL head (libcommon/avsl_head.h) and its golden are in the tree.
if [ -f "$AVSL_ROOT/libcommon/avsl_head.h" ] && [ -f "$AVSL_ROOT/tests/golden/avsl_dist.safetensors" ]; then
	/usr/bin/python3 - "$AVSL_ROOT/tests/golden/avsl_dist.safetensors" "$T" <<'PYEOF'
import sys, json, struct, numpy as np
path, out = sys.argv[1], sys.argv[2]
with open(path, 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    head = json.loads(f.read(n))
    data = f.read()
def get(name):
    m = head[name]
    b, e = m['data_offsets']
    return np.frombuffer(data[b:e], dtype='<f4').reshape(m['shape'])
for side, (e, u) in {'q': ('x', 'xu'), 'g': ('y', 'yu')}.items():
    L = [get(f'{e}.{l}') for l in range(3)] + [get(f'{u}.{l}') for l in range(3)]
    rows = np.concatenate(L, axis=1)
    with open(f'{out}/avsl-{side}.txt', 'w') as f:
        f.write('3 16 16 16 1\n')
        for i, r in enumerate(rows):
            f.write(f'{i} {i % 2} ' + ' '.join(repr(float(v)) for v in r) + '\n')
np.save(f'{out}/avsl-df.npy', get('d_f'))
PYEOF
	"$T/mkave" <"$T/avsl-q.txt" >"$T/avsl-q.ave"
	"$T/mkave" <"$T/avsl-g.txt" >"$T/avsl-g.ave"
	# the golden holds the collector and its numbers; a checkpoint also needs the format version, the setting and
	# avsl.config, the authoritative hyper-parameters (formats/checkpoint.md §4)
	G="$T/avsl-model.safetensors"
	/usr/bin/python3 "$AVSL_ROOT/tests/cli/st_meta.py" "$AVSL_ROOT/tests/golden/avsl_dist.safetensors" "$G" \
		avsl.format_version=1.0 avsl.setting=avsl_proxyanchor \
		'avsl.config={"embeddings_dim":16,"topk_corr":5,"prob_gamma":10,"index_p":2}'
	expect avsl_golden_without_version 1 empty 'avsl_dist\.safetensors: .*avsl\.format_version.* missing' -- \
		avsl-graph -q -m "$AVSL_ROOT/tests/golden/avsl_dist.safetensors" -g "$T/avsl-g.ave" "$T/avsl-q.ave"
	# KEY=VALUE|expected message
	for bad in 'avsl.format_version=2.0|avsl.format_version 2.0' 'avsl.topk_corr=17|avsl.topk_corr: 17 contradicts' \
		'avsl.embeddings_dim=32|avsl.embeddings_dim: 32 contradicts' \
		'avsl.config={"embeddings_dim":16,"topk_corr":17}|topk_corr 17 outside'; do
		/usr/bin/python3 "$AVSL_ROOT/tests/cli/st_meta.py" "$G" "$T/bad-model.safetensors" "${bad%%|*}"
		expect "avsl_refuses_${bad%%=*}" 1 empty "bad-model\.safetensors: .*${bad#*|}" -- \
			avsl-graph -q -m "$T/bad-model.safetensors" -g "$T/avsl-g.ave" -o "$T/bad.avg" "$T/avsl-q.ave"
	done
	check avsl_refusals_leave_nothing "! ls $T/bad.avg* 2>/dev/null"
	expect avsl_default_metric_with_model 0 - empty -- avsl-graph -q -m "$G" -g "$T/avsl-g.ave" -k 7 -o "$T/avsl.avg" --dense "$T/avsl-d.npy" "$T/avsl-q.ave"
	check avsl_header_metric "[ \"\$(dd if='$T/avsl.avg' bs=1 skip=24 count=4 2>/dev/null)\" = avsl ]"
	# distances within 1e-5 relative of PyTorch's d_f (float32, different summation order)
	check avsl_dense_vs_pytorch "/usr/bin/python3 -c \"
import numpy as np; d = np.load('$T/avsl-d.npy'); r = np.load('$T/avsl-df.npy')
assert d.shape == r.shape == (5, 7), d.shape
assert np.allclose(d, r, rtol=1e-5, atol=1e-6), abs(d - r).max()\""
	check avsl_graph_equals_dense "avsl-graph -q -m '$G' --metric avsl -g '$T/avsl-g.ave' -k 7 --tile 2 --threads 2 '$T/avsl-q.ave' | cmp - '$T/avsl.avg'"
	check baseline_model_means_l2 "avsl-graph -q -m '$AVSL_ROOT/tests/golden/baseline_head.safetensors' '$T/six.ave' | cmp - '$T/ref.avg'"
	expect avsl_without_certainties 1 empty 'metric avsl needs embeddings with certainties' -- avsl-graph -m "$G" --metric avsl "$T/six.ave"
fi
