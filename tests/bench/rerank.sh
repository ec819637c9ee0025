#!/usr/bin/env bash
# bench rerank: avsl-graph --rerank C (a shortlist of C by avsl-linear, the AVSL distance with its gates fixed at
# their mean, or by the plain multi-level distance, then the exact AVSL distance on those C) against the exact
# AVSL graph, in one run, on
#   1. synthetic clustered embeddings: N = 35,000 items, 3 levels of D = 512 with certainties in [0, 1), 1,000
#      classes of 35 (a class centre per level plus Gaussian noise), and a synthetic collector written with
#      tests/reference/st_write.py: random non-negative raw links, top-k 128, the paper's initial gate (alpha 1,
#      beta 0), prob_gamma 10;
#      both sides answer the same 1,000 queries (the first 1,000 of a randomly ordered set: a random sample) against
#      the whole gallery (the query itself excluded);
#   2. the trained Fashion-MNIST demo model (make demo): its 5,000 test embeddings, all queries on both sides;
# printing the top-10 overlap with the exact graph, Recall@1 of both, the time per query of both (wall and CPU, the
# latter steadier on a shared machine), the estimates for SOP (60,502 items) and 1M items, and
#   3. single-query latency on the demo gallery: a resident `avsl-graph -g test.ave -m model --tile 1` answering
#      queries written one at a time into its standard input (model and gallery loaded), and the whole cold pipeline
#      `avsl-embed one.avs | avsl-graph -g test.ave -m model`.
#   BENCH_DEMO=DIR      the demo's output folder (default demo-run; make demo writes it)
#   BENCH_N=N BENCH_Q=Q smaller synthetic runs (default 35000 items, 1000 sampled queries)
set -eu
cd "$(dirname "$0")/../.."
ROOT=$PWD
: "${AVSL_BIN:=$ROOT/build/bin}"
PY=/usr/bin/python3
N=${BENCH_N:-35000} Q=${BENCH_Q:-1000} D=512
CLASSES=$((N / 35))
DEMO=${BENCH_DEMO:-demo-run}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
G="$AVSL_BIN/avsl-graph"
# timed RUN_NAME cmd...: wall and CPU seconds (user + system, all threads) of one command into $T/RUN_NAME.time
timed() {
	local name=$1
	shift
	/usr/bin/time -f '%e %U %S' -o "$T/$name.time" "$@"
}

# ---- 1. synthetic ---------------------------------------------------------------------------------------------
$PY - "$N" "$D" "$CLASSES" "$T" "$ROOT/tests/reference" <<'PYEOF'
import sys, numpy as np
N, D, K, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, sys.argv[5])
import st_write
rng = np.random.default_rng(2022)
L = 3
t = {}
for l in range(L):  # the gate as the paper initialises it: alpha = 1, beta = 0
    t[f"collector.prob_coef.{l}"] = np.ones(D, np.float32)
    t[f"collector.prob_bias.{l}"] = np.zeros(D, np.float32)
for l in range(L - 1):  # raw links: random non-negative co-activation statistics
    t[f"collector.links.{l}"] = rng.random((D, D), dtype=np.float32)
import json
hp = {"setting": "avsl_proxyanchor", "embeddings_dim": D, "topk_corr": 128, "prob_gamma": 10, "index_p": 2}
st_write.save(f"{out}/synth.safetensors", t, {"avsl.format_version": "1.0", "avsl.config": json.dumps(hp),
                                              "avsl.setting": "avsl_proxyanchor", "avsl.levels": L,
                                              "avsl.embeddings_dim": D, "avsl.topk_corr": 128,
                                              "avsl.prob_gamma": 10, "avsl.index_p": 2})
lab = np.arange(N) % K
rng.shuffle(lab)
for l in range(L):
    c = rng.standard_normal((K, D), dtype=np.float32)
    np.save(f"{out}/emb{l}.npy", c[lab] + np.float32(3.0) * rng.standard_normal((N, D), dtype=np.float32))
    np.save(f"{out}/cert{l}.npy", rng.random((N, D), dtype=np.float32))
np.save(f"{out}/labels.npy", lab.astype(np.int64))
PYEOF
"$AVSL_BIN/avsl-embed" --from-npy "$T" -o "$T/synth.ave"
rm -f "$T"/emb?.npy "$T"/cert?.npy
PARTS=$(( (N + Q - 1) / Q ))
M="$T/synth.safetensors"
timed s_exact "$G" -q -m "$M" -k 10 --shard 0/$PARTS -o "$T/s_exact.avg" "$T/synth.ave"
timed s_short "$G" -q -m "$M" --metric avsl-linear -k 1000 --shard 0/$PARTS -o /dev/null "$T/synth.ave"
for C in 250 1000; do
	timed s_rr$C "$G" -q -m "$M" -k 10 --rerank $C --shard 0/$PARTS -o "$T/s_rr$C.avg" "$T/synth.ave"
done
timed s_rr1000L "$G" -q -m "$M" -k 10 --rerank 1000 --shortlist levels --shard 0/$PARTS -o "$T/s_rr1000L.avg" \
	"$T/synth.ave"

# ---- 2. the demo model ----------------------------------------------------------------------------------------
DM="$DEMO/avsl/model.safetensors" DE="$DEMO/avsl/test.ave" DS="$DEMO/test.avs"
have_demo=0
if [ -f "$DM" ] && [ -f "$DE" ] && [ -f "$DS" ]; then
	have_demo=1
	timed d_exact "$G" -q -m "$DM" -k 10 -o "$T/d_exact.avg" "$DE"
	timed d_short "$G" -q -m "$DM" --metric avsl-linear -k 1000 -o /dev/null "$DE"
	for C in 100 250 1000; do
		timed d_rr$C "$G" -q -m "$DM" -k 10 --rerank $C -o "$T/d_rr$C.avg" "$DE"
	done
	timed d_rr250L "$G" -q -m "$DM" -k 10 --rerank 250 --shortlist levels -o "$T/d_rr250L.avg" "$DE"
	# ---- 3. single-query latency: a one-image shard, then the resident server fed query records one by one
	"$AVSL_BIN/avsl-prep" -q --layout idx --split test --classes 5 --per-class 1 -o "$T/one.avs" \
		/usr/share/datasets/fashion-mnist
	for i in 1 2 3 4 5; do
		s=$(date +%s.%N)
		"$AVSL_BIN/avsl-embed" -q -m "$DM" -d cpu "$T/one.avs" | "$G" -q -g "$DE" -m "$DM" -k 10 --tile 1 \
			-o "$T/one.avg"
		awk -v a="$(date +%s.%N)" -v b="$s" 'BEGIN { printf "%.4f\n", a - b }' >>"$T/cold.txt"
	done
	for th in 1 2; do
	$PY - "$G" "$DE" "$DM" $th >"$T/warm$th.json" <<'PYEOF'
import sys, json, struct, subprocess, time
G, E, M, threads = sys.argv[1:5]
data = open(E, "rb").read()
head = bytearray(data[:64])
levels = struct.unpack_from("<H", head, 14)[0]
has_cert = struct.unpack_from("<I", head, 16)[0] & 1
dims = struct.unpack_from("<8I", head, 32)[:levels]
rec = 16 + 4 * sum(dims) * (1 + has_cert)
struct.pack_into("<Q", head, 24, 0xFFFFFFFFFFFFFFFF)  # a stream: count unknown
p = subprocess.Popen([G, "-q", "-g", E, "-m", M, "-k", "10", "--tile", "1", "--threads", threads], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE)
def ask(i):
    p.stdin.write(data[64 + i * rec:64 + (i + 1) * rec])
    p.stdin.flush()
    h = p.stdout.read(24)
    count = struct.unpack_from("<I", h, 16)[0]
    p.stdout.read(16 * count)
p.stdin.write(bytes(head))
p.stdin.write(data[64:64 + rec])  # the first query also waits for the model and the gallery: untimed
p.stdin.flush()
p.stdout.read(64)
h = p.stdout.read(24)
p.stdout.read(16 * struct.unpack_from("<I", h, 16)[0])
lat = []
for i in range(1, 51):
    t0 = time.perf_counter()
    ask(i * 97 % 5000)
    lat.append(time.perf_counter() - t0)
p.stdin.close()
p.wait()
lat.sort()
print(json.dumps({"n": len(lat), "median": lat[len(lat) // 2], "p90": lat[int(len(lat) * 0.9)], "max": lat[-1]}))
PYEOF
	done
fi

# ---- the table ------------------------------------------------------------------------------------------------
for f in "$T"/*.avg; do
	case $f in */one.avg) continue ;; esac
	"$AVSL_BIN/avsl-eval" -q --json -k 1 "$f" >"${f%.avg}.json"
done
$PY - "$T" "$N" "$Q" "$have_demo" "$(nproc)" <<'PYEOF'
import sys, json, struct, os
T, N, Q, have_demo, cpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
def graph(p):
    b = open(p, "rb").read()
    off, rows = 64, []
    while off < len(b):
        count = struct.unpack_from("<I", b, off + 16)[0]
        off += 24
        rows.append([struct.unpack_from("<q", b, off + 16 * j)[0] for j in range(count)])
        off += 16 * count
    return rows
def tm(name):
    w, u, s = map(float, open(f"{T}/{name}.time").read().split()[-3:])
    return w, u + s
def r1(name):
    return json.load(open(f"{T}/{name}.json"))["global"]["recall@1"]
def table(prefix, title, nq, Cs, n):
    ex = graph(f"{T}/{prefix}_exact.avg")
    we, ce = tm(f"{prefix}_exact")
    ws, cs = tm(f"{prefix}_short")
    print(title)
    print(f"{'method':34} {'top10 overlap':>13} {'R@1 %':>7} {'wall ms/q':>10} {'CPU ms/q':>9} {'speed-up (CPU)':>15}")
    print(f"{'exact avsl':34} {'100.00%':>13} {100 * r1(prefix + '_exact'):7.2f} {1e3 * we / nq:10.2f} "
          f"{1e3 * ce / nq:9.2f} {1.0:15.1f}")
    res = {}
    for C in Cs:
        g = graph(f"{T}/{prefix}_rr{C}.avg")
        ov = sum(len(set(a) & set(b)) for a, b in zip(ex, g)) / sum(len(a) for a in ex)
        w, c = tm(f"{prefix}_rr{C}")
        res[C] = (ov, c / nq)
        sl = "levels" if C.endswith("L") else "avsl-linear"
        name = f"--rerank {C.rstrip('L')} --shortlist {sl}"
        print(f"{name:34} {100 * ov:12.2f}% {100 * r1(prefix + '_rr' + C):7.2f} "
              f"{1e3 * w / nq:10.2f} {1e3 * c / nq:9.2f} {ce / c:15.1f}")
    print(f"{'(avsl-linear shortlist alone, 1000)':34} {'':13} {'':7} {1e3 * ws / nq:10.2f} {1e3 * cs / nq:9.2f}")
    return ce / nq, cs / nq, res
print(f"rerank: {cpus} CPUs; times per query include loading (one process per row); CPU = user + system, all threads")
ce, cs, res = table("s", f"synthetic: {N} items x 3 levels x 512 ({N // 35} classes), k = 10; both sides answer the same "
                    f"random sample of {Q} queries against all {N} items", Q, ("250", "1000", "1000L"), N)
# Estimates for a whole all-against-all graph of n items on this machine (CPU seconds; divide by the cores for wall):
# exact: n queries x n pairs at the measured per-pair cost; re-rank: the shortlist scan grows with n (measured at N,
# scaled), the C = 1000 re-rank per query is constant.
pair = ce / N
rr = max(res["1000"][1] - cs, 0.0)
print()
print("estimate, whole graph, all items as queries (CPU hours; from the per-query costs above, D = 512 x 3, k = 10):")
print(f"{'items':>10} {'exact':>10} {'--rerank 1000':>14} {'ratio':>7}")
for n in (60502, 1000000):
    e = n * n * pair / 3600
    r = n * (cs * n / N + rr) / 3600
    print(f"{n:>10} {e:10.2f} {r:14.2f} {e / r:7.1f}")
print(f"(1M items: the embeddings alone take {1e6 * 512 * 3 * 2 * 4 / 2**30:.1f} GiB, plus the normalised copies: "
      "a shard-per-node job, --shard i/n, or an approximate shortlist; see avsl-graph(1))")
if have_demo:
    print()
    dce, dcs, dres = table("d", "demo (Fashion-MNIST, trained AVSL model, 5000 test items x 3 levels x 128), k = 10, "
                           "all 5000 queries on both sides", 5000, ("100", "250", "1000", "250L"), 5000)
    cold = sorted(float(x) for x in open(f"{T}/cold.txt"))
    print()
    print("single query against the 5000-item demo gallery (avsl-graph -g test.ave -m model --tile 1, exact avsl):")
    for th in (1, 2):
        warm = json.load(open(f"{T}/warm{th}.json"))
        print(f"  resident server, --threads {th}, model and gallery loaded, {warm['n']} queries: median "
              f"{1e3 * warm['median']:.1f} ms, p90 {1e3 * warm['p90']:.1f} ms, max {1e3 * warm['max']:.1f} ms "
              f"(target < 300 ms)")
    print(f"  (load average now: {os.getloadavg()[0]:.1f} on {cpus} CPUs)")
    print(f"  cold pipeline avsl-embed one.avs | avsl-graph -g ..., 5 runs: median {1e3 * cold[2]:.0f} ms "
          f"(loads the model twice and the gallery once)")
else:
    print()
    print("demo: skipped: no demo-run/avsl/model.safetensors, test.ave and test.avs (run make demo, or BENCH_DEMO=DIR)")
    sys.exit(1)
PYEOF
