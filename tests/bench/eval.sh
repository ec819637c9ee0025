#!/usr/bin/env bash
# bench eval: avsl-eval --emb (exact l2 graph + Recall@{1,10,100} + MAP@R) against faiss IndexFlatL2 search (k=101)
# + numpy metrics, on the SOP test size: 60502 x 512 embeddings, 11316 classes of 5-6 items (random cluster
# centres plus noise, random order). Both read the same embeddings from disk, use every CPU and compute the same
# metrics; the values are printed so a disagreement shows. The peer is timed inside Python from loading the data
# to the last metric (its interpreter and import start-up excluded); ours is the whole process.
#   BENCH_N=20000 tests/bench/eval.sh     a smaller run
set -eu
cd "$(dirname "$0")/../.."
: "${AVSL_BIN:=$PWD/build/bin}"
PY=/usr/bin/python3
N=${BENCH_N:-60502} D=${BENCH_D:-512} C=${BENCH_CLASSES:-11316}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cc -std=gnu11 -O2 -Iformats tests/cli/mkave.c "$AVSL_BIN/../libavsl.a" -lm -o "$T/mkave"

$PY - "$N" "$D" "$C" "$T/x" <<'PYEOF'
import sys, numpy as np
N, D, C, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(2022)
lab = np.arange(N) % C
rng.shuffle(lab)
cent = rng.standard_normal((C, D), dtype=np.float32)
x = cent[lab] + np.float32(2.2) * rng.standard_normal((N, D), dtype=np.float32)
x.astype('<f4').tofile(out + '.f32')
lab.astype('<i4').tofile(out + '.i32')
PYEOF
"$T/mkave" --raw "$N" "$D" "$T/x.f32" "$T/x.i32" >"$T/x.ave"

# wall and CPU (user + system, all threads) seconds: on a shared machine the CPU time is the steadier figure
/usr/bin/time -f '%e %U %S' -o "$T/ours.time" "$AVSL_BIN/avsl-eval" -q --json -k 1,10,100 --emb "$T/x.ave" >"$T/ours.json"

$PY - "$N" "$D" "$T/x" >"$T/peer.json" <<'PYEOF'
import sys, time, json, numpy as np, faiss
N, D, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t0, c0 = time.perf_counter(), time.process_time()
x = np.fromfile(path + '.f32', dtype='<f4').reshape(N, D)
lab = np.fromfile(path + '.i32', dtype='<i4')
x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
index = faiss.IndexFlatL2(D)
index.add(x)
_, I = index.search(x, 101)
# drop the query itself (or, if a duplicate pushed it out, the last neighbour)
own = I == np.arange(N)[:, None]
drop = np.where(own.any(1), own.argmax(1), 100)
keep = np.ones_like(I, dtype=bool)
keep[np.arange(N), drop] = False
I = I[keep].reshape(N, 100)
match = lab[I] == lab[:, None]
R = np.bincount(lab)[lab] - 1
ev = R > 0
Rc = np.minimum(R, 100)
j = np.arange(1, 101)
inR = j[None, :] <= Rc[:, None]
hits = np.cumsum(match, axis=1)
rprec = (match & inR).sum(1) / np.maximum(R, 1)
mapr = (match * inR * hits / j).sum(1) / np.maximum(R, 1)
res = {f"recall@{k}": float(match[ev, :k].any(1).mean()) for k in (1, 10, 100)}
res["map_at_r"] = float(mapr[ev].mean())
res["r_precision"] = float(rprec[ev].mean())
res["seconds"] = time.perf_counter() - t0
res["cpu_seconds"] = time.process_time() - c0
res["threads"] = faiss.omp_get_max_threads()
print(json.dumps(res))
PYEOF

$PY - "$T/ours.json" "$T/peer.json" "$T/ours.time" "$N" "$D" "$C" "$(nproc)" <<'PYEOF'
import sys, json
ours, peer = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
w, u, s = map(float, open(sys.argv[3]).read().split()[-3:])
t_ours, c_ours, t_peer, c_peer = w, u + s, peer["seconds"], peer["cpu_seconds"]
g = ours["global"]
print(f"eval: {sys.argv[4]} x {sys.argv[5]} L2 embeddings, {sys.argv[6]} classes, Recall@{{1,10,100}} + MAP@R, "
      f"{sys.argv[7]} CPUs")
print(f"{'implementation':34} {'wall s':>8} {'CPU s':>8} {'R@1':>8} {'R@10':>8} {'R@100':>8} {'MAP@R':>8}")
print(f"{'avsl-eval --emb (exact, l2)':34} {t_ours:8.2f} {c_ours:8.2f} {g['recall@1']:8.4f} {g['recall@10']:8.4f} "
      f"{g['recall@100']:8.4f} {g['map_at_r']:8.4f}")
print(f"{'faiss IndexFlatL2 k=101 + numpy':34} {t_peer:8.2f} {c_peer:8.2f} {peer['recall@1']:8.4f} {peer['recall@10']:8.4f} "
      f"{peer['recall@100']:8.4f} {peer['map_at_r']:8.4f}")
print(f"{'speed-up (peer / ours)':34} {t_peer / t_ours:8.2f} {c_peer / c_ours:8.2f}")
worst = max(abs(g[k] - peer[k]) for k in ("recall@1", "recall@10", "recall@100", "map_at_r"))
print(f"max metric difference: {worst:.2e} (float rounding at near-ties may swap neighbours)")
PYEOF
