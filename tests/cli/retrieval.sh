#!/usr/bin/env bash
# CLI tests of retrieval at scale and numpy interchange (issue 16): avsl-graph --rerank and query streams,
# avsl-embed --from-npy, avsl-eval --neighbours / --nmi / --fraction, avsl-graph --print-checkpoint, and the
# collector-checkpoint example of avsl-checkpoint(5), run as printed. Every input is written by numpy; every
# expected value comes from numpy or from another avsl path that computes the same thing (exact graph vs re-rank,
# loaded vs streamed queries).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
cd "$T" || exit 1

# ---- the man page example: a minimal collector checkpoint written with tests/reference/st_write.py -------------
sed -n '/^\.\\" begin collector example/,/^\.Ed/p' "$AVSL_ROOT/man/avsl-checkpoint.5" | sed '1,2d;$d' >example.py
check manpage_example_extracted "grep -q 'st_write.save' example.py"
check manpage_example_runs "PYTHONPATH='$AVSL_ROOT/tests/reference' $PY example.py && [ -s collector.safetensors ]"
expect print_checkpoint 0 - empty -- avsl-graph --print-checkpoint -m collector.safetensors
check print_checkpoint_usable "avsl-graph --print-checkpoint -m collector.safetensors | grep -q '^avsl-graph --metric avsl: usable: 3 levels of 64'"
check print_checkpoint_roles "avsl-graph --print-checkpoint -m collector.safetensors | grep 'collector.prob_coef.0' | grep -q UNUSED &&
	avsl-graph --print-checkpoint -m collector.safetensors | grep 'collector.links.0' | grep -q RAW"
expect print_checkpoint_needs_model 2 empty 'needs -m MODEL' -- avsl-graph --print-checkpoint
# a checkpoint without the collector: says why, exit 1
$PY -c "
import sys; sys.path.insert(0, '$AVSL_ROOT/tests/reference'); import numpy as np, st_write
import json
hp = json.dumps({'setting': 'avsl_proxyanchor', 'embeddings_dim': 64, 'topk_corr': 16, 'prob_gamma': 10, 'index_p': 2})
st_write.save('nocol.safetensors', {'x': np.zeros(2, np.float32)}, {'avsl.format_version': '1.0', 'avsl.config': hp,
              'avsl.setting': 'avsl_proxyanchor', 'avsl.levels': 3, 'avsl.embeddings_dim': 64, 'avsl.topk_corr': 16,
              'avsl.prob_gamma': 10, 'avsl.index_p': 2})
st_write.save('noversion.safetensors', {'x': np.zeros(2, np.float32)}, {'avsl.levels': 3})"
check print_checkpoint_not_usable "! avsl-graph --print-checkpoint -m nocol.safetensors >o.txt && grep -q 'not usable: .*collector.prob_coef.0' o.txt"
expect print_checkpoint_refused 1 - 'noversion.safetensors: .*format_version' -- avsl-graph --print-checkpoint -m noversion.safetensors

# ---- numpy embeddings: 600 items, 3 levels of 64 with certainties, 40 classes (the example's dimension) --------
$PY - <<'PYEOF'
import numpy as np
rng = np.random.default_rng(16)
N, D, K = 600, 64, 40
lab = rng.integers(0, K, N)
for l in range(3):
    c = rng.standard_normal((K, D)).astype(np.float32)
    np.save(f"emb{l}.npy", c[lab] + np.float32(1.2) * rng.standard_normal((N, D), dtype=np.float32))
    np.save(f"cert{l}.npy", rng.random((N, D), dtype=np.float32))
np.save("labels.npy", lab.astype(np.int32))
np.savetxt("labels.txt", lab, fmt="%d")
np.save("ids.npy", (1000 + np.arange(N)).astype(np.int64))
np.save("emb0_f64.npy", np.load("emb0.npy").astype(np.float64))
np.save("emb0_fortran.npy", np.asfortranarray(np.load("emb0.npy")))
np.save("short.npy", np.load("emb1.npy")[:10])
np.save("emb0_be.npy", np.load("emb0.npy").astype(">f4"))
np.save("labels_be.npy", lab.astype(">i8"))
with open("emb0_v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.load("emb0.npy"), version=(2, 0))
PYEOF
expect from_npy_files 0 empty empty -- avsl-embed --from-npy emb0.npy,emb1.npy,emb2.npy --cert cert0.npy,cert1.npy,cert2.npy \
	--labels labels.npy --ids ids.npy -o s.ave
# the records hold exactly the numpy values (id, label, every float bit)
check from_npy_bits "$PY -c \"
import numpy as np, struct
b = open('s.ave', 'rb').read()
assert b[:4] == b'\\x89AVE' and struct.unpack_from('<Q', b, 24)[0] == 600
e = [np.load(f'emb{l}.npy') for l in range(3)] + [np.load(f'cert{l}.npy') for l in range(3)]
lab, ids = np.load('labels.npy'), np.load('ids.npy')
rec = np.frombuffer(b[64:], dtype=np.dtype([('id', '<i8'), ('label', '<i4'), ('pad', '<i4'), ('v', '<f4', (384,))]))
assert len(rec) == 600 and (rec['id'] == ids).all() and (rec['label'] == lab).all()
assert np.array_equal(rec['v'], np.concatenate(e, axis=1))\""
check from_npy_text_labels "avsl-embed --from-npy emb0.npy,emb1.npy,emb2.npy --cert cert0.npy,cert1.npy,cert2.npy \
	--labels labels.txt --ids ids.npy | cmp - s.ave"
# float64 arrays are read as float32 (the values above are float32, so the round trip is exact)
check from_npy_float64 "avsl-embed --from-npy emb0_f64.npy --labels labels.npy | cmp - <(avsl-embed --from-npy emb0.npy --labels labels.npy)"
# big-endian arrays and format version 2.0 read as the same values
check from_npy_big_endian "avsl-embed --from-npy emb0_be.npy --labels labels_be.npy | cmp - <(avsl-embed --from-npy emb0.npy --labels labels.npy)"
check from_npy_version2 "avsl-embed --from-npy emb0_v2.npy --labels labels.npy | cmp - <(avsl-embed --from-npy emb0.npy --labels labels.npy)"
# a directory as avsl-embed --npy writes it
mkdir -p dir && cp emb?.npy cert?.npy labels.npy ids.npy dir/
check from_npy_dir "avsl-embed --from-npy dir | cmp - s.ave"
expect from_npy_fortran 1 empty 'emb0_fortran.npy: .*fortran_order' -- avsl-embed --from-npy emb0_fortran.npy --labels labels.npy
expect from_npy_rows_differ 1 empty 'short.npy: 10 rows, expected 600' -- avsl-embed --from-npy emb0.npy,short.npy --labels labels.npy
expect from_npy_not_npy 1 empty 'labels.txt: not a .npy file' -- avsl-embed --from-npy labels.txt --labels labels.npy
expect from_npy_needs_labels 2 empty 'needs --labels' -- avsl-embed --from-npy emb0.npy
expect from_npy_cert_count 2 empty '1 certainty files for 3 embedding levels' -- avsl-embed --from-npy emb0.npy,emb1.npy,emb2.npy --cert cert0.npy --labels labels.npy
expect labels_without_from 2 empty 'go with --from-npy' -- avsl-embed --labels labels.npy -m x.safetensors x.avs

# ---- re-rank: the shortlist's recall is the ceiling; distances are the exact graph's -----------------------------
M=collector.safetensors
avsl-graph -q -m $M -k 10 -o exact.avg s.ave
avsl-graph -q -m $M -k 10 --rerank 599 -o rr-all.avg s.ave
check rerank_whole_gallery_is_exact "cmp rr-all.avg exact.avg"
for sl in avsl-linear levels level:2 l2 cosine; do
	check "rerank_${sl/:/}_shortlist_whole_gallery" "avsl-graph -q -m $M -k 10 --rerank 599 --shortlist $sl --tile 64 --threads 2 s.ave | cmp - exact.avg"
done
avsl-graph -q -m $M -k 10 --rerank 60 -o rr60.avg s.ave
avsl-graph -q -m $M -k 10 --dense dense.npy -o /dev/null s.ave
avsl-graph -q -m $M --metric avsl-linear -k 60 -o short60.avg s.ave
# Every re-ranked distance is the exact d_f of that pair (bit for bit), and the re-ranked list is the exact top-10
# of the shortlist: the exact ranking restricted to the 60 candidates of the default shortlist (avsl-linear).
check rerank_equals_exact_on_shortlist "$PY -c \"
import numpy as np, struct
def graph(p):
    b = open(p, 'rb').read(); off = 64; out = []
    while off < len(b):
        qid, cnt = struct.unpack_from('<q', b, off)[0], struct.unpack_from('<I', b, off + 16)[0]; off += 24
        out.append([struct.unpack_from('<qif', b, off + 16 * j) for j in range(cnt)]); off += 16 * cnt
    return out
d = np.load('dense.npy'); rr = graph('rr60.avg'); sl = graph('short60.avg')
for q in range(600):
    cand = np.array([n[0] - 1000 for n in sl[q]])
    order = sorted(cand, key=lambda g: (d[q, g], g))[:10]
    assert [n[0] - 1000 for n in rr[q]] == order, q
    assert all(np.float32(n[2]) == d[q, n[0] - 1000] for n in rr[q]), q
\""
check rerank_overlap_reported "$PY -c \"
import struct
def ids(p):
    b = open(p, 'rb').read(); off = 64; out = []
    while off < len(b):
        cnt = struct.unpack_from('<I', b, off + 16)[0]; off += 24
        out.append({struct.unpack_from('<q', b, off + 16 * j)[0] for j in range(cnt)}); off += 16 * cnt
    return out
a, b = ids('exact.avg'), ids('rr60.avg')
ov = sum(len(x & y) for x, y in zip(a, b)) / sum(len(x) for x in a)
assert 0.5 < ov <= 1, ov
\""
check rerank_shard_parts "cmp <(for i in 0 1 2; do avsl-graph -q -m $M -k 10 --rerank 60 --shard \$i/3 s.ave | tail -c +65; done) <(tail -c +65 rr60.avg)"
expect rerank_plain_metric 2 empty 're-ranks by the avsl metric' -- avsl-graph -m $M --metric l2 --rerank 10 s.ave
expect rerank_shortlist_avsl 2 empty 'shortlist must be' -- avsl-graph -m $M --rerank 10 --shortlist avsl s.ave
expect rerank_without_model 1 empty 'needs the avsl metric' -- avsl-graph --rerank 10 s.ave
expect avsl_linear_without_model 1 empty 'metric avsl-linear needs a model' -- avsl-graph --metric avsl-linear s.ave
# avsl-linear weights, recomputed by numpy from the checkpoint and the certainties: the dense matrix is
# sum_l w_l . (x_l - y_l)^2 of the L2-normalised levels
check avsl_linear_vs_numpy "avsl-graph -q -m $M --metric avsl-linear --dense lin.npy -o /dev/null s.ave && $PY -c \"
import numpy as np, sys; sys.path.insert(0, '$AVSL_ROOT/tests/reference'); import st_write
t, meta = st_write.load('$M'); L, D, k = 3, 64, int(meta['avsl.topk_corr'])
def shat(Lk):
    R = np.maximum(Lk.astype(np.float64), 0); S = np.zeros_like(R)
    for n in range(D):
        tau = np.sort(R[:, n])[::-1][k - 1] - 1e-8; keep = R[:, n] >= tau; S[keep, n] = R[keep, n]
    return S / (S.sum(0, keepdims=True) + 1e-8)
g = np.ones(D); w = [None] * L
for l in range(L - 1, 0, -1):
    u = np.load(f'cert{l}.npy').astype(np.float64).mean(0)
    pi = 1 / (1 + np.exp(-10 * (u * u * t[f'collector.prob_coef.{l}'] + t[f'collector.prob_bias.{l}'])))
    w[l] = g * pi; g = shat(t[f'collector.links.{l - 1}']) @ (g * (1 - pi))
w[0] = g
x = [np.load(f'emb{l}.npy').astype(np.float64)[:40] for l in range(L)]
x = [a / np.linalg.norm(a, axis=1, keepdims=True) for a in x]
ref = sum(((a[:, None] - a[None]) ** 2 * wl).sum(-1) for a, wl in zip(x, w))
d = np.load('lin.npy')[:40, :40]
assert np.allclose(d, ref, rtol=1e-4, atol=1e-5), abs(d - ref).max()
\""

# ---- query streams (-g): answered block by block; the same graph as loading the queries first ------------------
$PY -c "
import numpy as np
for n in ('emb0', 'emb1', 'emb2', 'cert0', 'cert1', 'cert2'):
    a = np.load(n + '.npy'); np.save('q' + n + '.npy', a[:50]); np.save('g' + n + '.npy', a[50:])
l = np.load('labels.npy'); np.save('qlab.npy', l[:50]); np.save('glab.npy', l[50:])"
avsl-embed --from-npy qemb0.npy,qemb1.npy,qemb2.npy --cert qcert0.npy,qcert1.npy,qcert2.npy --labels qlab.npy -o q.ave
avsl-embed --from-npy gemb0.npy,gemb1.npy,gemb2.npy --cert gcert0.npy,gcert1.npy,gcert2.npy --labels glab.npy -o g.ave
# --shard 0/1 loads the whole query set first (no streaming): the reference
avsl-graph -q -m $M -g g.ave -k 10 --shard 0/1 -o loaded.avg q.ave
for t in 1 7 512; do
	check "stream_tile_$t" "cat q.ave | avsl-graph -q -m $M -g g.ave -k 10 --tile $t | cmp - loaded.avg"
done
check stream_rerank "cat q.ave | avsl-graph -q -m $M -g g.ave -k 10 --tile 3 --rerank 550 | cmp - loaded.avg"
check stream_plain_metric "cat q.ave | avsl-graph -q --metric cosine -g g.ave -k 10 --tile 4 | cmp - <(avsl-graph -q --metric cosine -g g.ave -k 10 --shard 0/1 q.ave)"
check stream_progress "cat q.ave | avsl-graph -m $M -g g.ave -k 10 --tile 5 2>&1 >/dev/null | grep -q 'graph done: 50 queries'"
# a record arrives, its neighbours come back while the input is still open (nothing waits for the end of input)
check stream_answers_before_eof "timeout 60 $PY -c \"
import subprocess, struct, sys
b = open('q.ave', 'rb').read(); rec = (len(b) - 64) // 50
head = bytearray(b[:64]); struct.pack_into('<Q', head, 24, 2**64 - 1)
p = subprocess.Popen(['avsl-graph', '-q', '-m', '$M', '-g', 'g.ave', '-k', '10', '--tile', '1'],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
p.stdin.write(bytes(head) + b[64:64 + rec]); p.stdin.flush()
out = p.stdout.read(64 + 24 + 10 * 16)          # blocks until the first answer: stdin is still open
want = open('loaded.avg', 'rb').read()
assert out[64:] == want[64:64 + 24 + 160], 'first record differs'
p.stdin.write(b[64 + rec:64 + 2 * rec]); p.stdin.close()
rest = p.stdout.read(); p.wait()
assert p.returncode == 0 and rest == want[64 + 184:64 + 2 * 184]
assert struct.unpack_from('<Q', out, 16)[0] == 2**64 - 1  # nq unknown in the graph header, as in the input
\""

# ---- avsl-eval: index matrices from numpy (as faiss or torch.topk give them) -------------------------------------
# brute-force L2 over the L2-normalised concatenated levels (avsl-graph's l2 metric), searched with the query
# itself (k + 1, faiss style): the same metrics as avsl-eval --emb computes itself
$PY - <<'PYEOF'
import numpy as np
x = np.concatenate([np.load(f"emb{l}.npy") for l in range(3)], axis=1).astype(np.float64)
x /= np.linalg.norm(x, axis=1, keepdims=True)
d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
idx = np.lexsort((np.broadcast_to(np.arange(600), d.shape), d), axis=1)  # ties by index, as avsl-graph
np.save("idx.npy", idx[:, :101].astype(np.int64))
q = np.load("qlab.npy"); g = np.load("glab.npy")
dq = d[:50, 50:]
np.save("qidx.npy", np.argsort(dq, axis=1, kind="stable")[:, :100].astype(np.int32))
PYEOF
check neighbours_equal_emb "avsl-eval -q --json -k 1,4,16 --neighbours idx.npy --labels labels.npy | cmp - <(avsl-embed --from-npy emb0.npy,emb1.npy,emb2.npy --labels labels.npy | avsl-eval -q --json -k 1,4,16 --emb -)"
check neighbours_gallery_labels "avsl-eval -q --json -k 1,8 --neighbours qidx.npy --labels qlab.npy --gallery-labels glab.npy | cmp - <(avsl-embed --from-npy gemb0.npy,gemb1.npy,gemb2.npy --labels glab.npy >gl.ave && avsl-embed --from-npy qemb0.npy,qemb1.npy,qemb2.npy --labels qlab.npy | avsl-graph -q -g gl.ave -k 100 | avsl-eval -q --json -k 1,8)"
expect neighbours_needs_labels 2 empty 'needs --labels' -- avsl-eval --neighbours idx.npy
expect neighbours_k_too_large 1 empty 'Recall@200 needs 200 neighbours per query, the matrix has 100' -- avsl-eval -k 200 --neighbours idx.npy --labels labels.npy
$PY -c "import numpy as np; i = np.load('idx.npy'); i[3, 5] = 600; np.save('bad.npy', i)"
expect neighbours_out_of_range 1 empty 'bad.npy: row 3: index 600 outside the 600 gallery items' -- avsl-eval --neighbours bad.npy --labels labels.npy
check neighbours_labels_text "avsl-eval -q -k 1 --neighbours idx.npy --labels labels.txt | cmp - <(avsl-eval -q -k 1 --neighbours idx.npy --labels labels.npy)"

# ---- avsl-eval: percentages by default, --fraction, --nmi -------------------------------------------------------
check percent_default "avsl-eval -q -k 1 --neighbours idx.npy --labels labels.npy | grep -q '^metric (%)'"
check percent_is_100x_fraction "$PY -c \"
import subprocess as s
a = s.run(['avsl-eval', '-q', '-k', '1,2', '--neighbours', 'idx.npy', '--labels', 'labels.npy'], capture_output=True, text=True).stdout.split()
b = s.run(['avsl-eval', '-q', '-k', '1,2', '--fraction', '--neighbours', 'idx.npy', '--labels', 'labels.npy'], capture_output=True, text=True).stdout.split()
pa = dict(zip(a[3::2], a[4::2])); pb = dict(zip(b[2::2], b[3::2]))
for k in ('Recall@1', 'Recall@2', 'R-Precision', 'MAP@R'):
    assert abs(float(pa[k]) - 100 * float(pb[k])) < 0.006, (k, pa[k], pb[k])
\""
avsl-embed --from-npy emb0.npy,emb1.npy,emb2.npy --labels labels.npy -o plain.ave
expect nmi_runs 0 - empty -- avsl-eval -q --json -k 1 --emb plain.ave --nmi --clusters clusters.npy
# the NMI printed is the NMI of the clusters written, computed independently by numpy (arithmetic mean, as sklearn)
check nmi_matches_numpy "$PY -c \"
import json, numpy as np, subprocess as s
r = json.loads(s.run(['avsl-eval', '-q', '--json', '-k', '1', '--emb', 'plain.ave', '--nmi', '--clusters', 'c2.npy'], capture_output=True, text=True).stdout)
a = np.load('labels.npy'); b = np.load('c2.npy')
assert b.dtype == np.int32 and b.shape == (600,) and len(np.unique(b)) == len(np.unique(a)) == 40
def H(v):
    p = np.unique(v, return_counts=True)[1] / len(v); return -(p * np.log(p)).sum()
_, ia = np.unique(a, return_inverse=True); _, ib = np.unique(b, return_inverse=True)
C = np.zeros((ia.max() + 1, ib.max() + 1)); np.add.at(C, (ia, ib), 1); P = C / len(a)
nz = P > 0
mi = (P[nz] * np.log(P[nz] / np.outer(P.sum(1), P.sum(0))[nz])).sum()
ref = mi / ((H(a) + H(b)) / 2)
assert abs(r['nmi'] - ref) < 1e-6, (r['nmi'], ref)
assert 0.5 < ref < 1
# a Lloyd fixed point or 20 steps: every point at its nearest centroid of the final clusters (ties aside)
x = np.load('emb2.npy').astype(np.float64); x /= np.linalg.norm(x, axis=1, keepdims=True)
cent = np.stack([x[b == j].mean(0) for j in range(40)])
d = ((x[:, None] - cent[None]) ** 2).sum(-1)
assert (d[np.arange(600), b] <= d.min(1) + 1e-5).mean() > 0.99
\""
check nmi_threads_and_repeat_identical "cmp <(avsl-eval -q --json --emb plain.ave --nmi --threads 1) <(avsl-eval -q --json --emb plain.ave --nmi --threads 2)"
check nmi_seed_changes_init "avsl-eval -q --emb plain.ave --nmi --seed 5 --clusters c5.npy >/dev/null && ! cmp -s c5.npy clusters.npy"
check nmi_text_row "avsl-eval -q -k 1 --emb plain.ave --nmi | grep -Eq '^NMI +[0-9]+\.[0-9]{2}$'"
# well-separated classes: k-means finds them exactly, NMI 1
$PY -c "
import numpy as np
rng = np.random.default_rng(3); lab = np.repeat(np.arange(5), 20)
np.save('sep.npy', (np.eye(5, 16)[lab] * 10 + 0.01 * rng.standard_normal((100, 16))).astype(np.float32)); np.save('seplab.npy', lab)"
check nmi_separated_is_one "avsl-embed --from-npy sep.npy --labels seplab.npy | avsl-eval -q --json -k 1 --emb - --nmi | grep -q '\"nmi\": 1.000000'"
expect nmi_needs_emb 2 empty 'needs --emb' -- avsl-eval --nmi exact.avg
expect seed_needs_nmi 2 empty 'go with --nmi' -- avsl-eval --seed 3 --emb plain.ave
