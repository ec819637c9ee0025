#!/usr/bin/python3
"""devdiff.py: compare a tool's output on two devices (tests/cli/cuda_emu.sh).

  devdiff.py ave A.ave B.ave TOL     same header, ids and labels; every float (embeddings, certainties) within
                                     TOL relative to the largest magnitude of its row's level
  devdiff.py avg A.avg B.avg TOL [SCALE]
                                     same header and query records, the same neighbour sets per query, every
                                     neighbour's distance within TOL relative to max(|distance|, SCALE) (SCALE
                                     default 0: plainly relative; the plain metrics pass 1, as their distances
                                     |a|^2 + |b|^2 - 2 a.b of unit vectors carry an absolute error of the terms
                                     that cancel, which are >= 1, not of the small difference left)
Prints the largest difference found ("max_rel=..."); exit 1 with the first mismatch on stderr.
"""
import struct
import sys


def fail(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(1)


def read_ave(path):
    b = open(path, "rb").read()
    kind, levels, flags, _, count = struct.unpack_from("<HHIIQ", b, 12)
    dims = struct.unpack_from("<8I", b, 32)[:levels]
    cert = flags & 1
    nf = sum(dims) * (2 if cert else 1)
    rs = 16 + 4 * nf
    recs = []
    for i in range((len(b) - 64) // rs):
        o = 64 + i * rs
        rid, lab = struct.unpack_from("<qi", b, o)
        vals = struct.unpack_from("<%df" % nf, b, o + 16)
        recs.append((rid, lab, vals))
    return b[:64], dims, cert, recs


def cmp_ave(a, b, tol):
    ha, dims, cert, ra = read_ave(a)
    hb, _, _, rb = read_ave(b)
    if ha != hb or len(ra) != len(rb):
        fail("headers or record counts differ")
    worst = 0.0
    parts = list(dims) * (2 if cert else 1)
    for i, (x, y) in enumerate(zip(ra, rb)):
        if x[:2] != y[:2]:
            fail("record %d: id/label %s vs %s" % (i, x[:2], y[:2]))
        off = 0
        for p, d in enumerate(parts):
            xs, ys = x[2][off:off + d], y[2][off:off + d]
            scale = max(max(abs(v) for v in xs), 1e-30)
            rel = max(abs(u - v) for u, v in zip(xs, ys)) / scale
            worst = max(worst, rel)
            if rel > tol:
                fail("record %d, part %d: relative difference %.3g > %g" % (i, p, rel, tol))
            off += d
    print("max_rel=%.3g" % worst)


def read_avg(path):
    b = open(path, "rb").read()
    k, nq = struct.unpack_from("<IQ", b, 12)
    o, qs = 64, []
    while o < len(b):
        qid, lab, nrel, cnt, _ = struct.unpack_from("<qiIII", b, o)
        o += 24
        nb = [struct.unpack_from("<qif", b, o + 16 * j) for j in range(cnt)]
        o += 16 * cnt
        qs.append(((qid, lab, nrel, cnt), nb))
    return b[:64], qs


def cmp_avg(a, b, tol, scale=0.0):
    ha, qa = read_avg(a)
    hb, qb = read_avg(b)
    if ha != hb or len(qa) != len(qb):
        fail("headers or query counts differ")
    worst = 0.0
    for i, ((hx, nx), (hy, ny)) in enumerate(zip(qa, qb)):
        if hx != hy:
            fail("query %d: record header %s vs %s" % (i, hx, hy))
        dx = {n[0]: n[2] for n in nx}
        dy = {n[0]: n[2] for n in ny}
        if set(dx) != set(dy):
            fail("query %d: neighbour sets differ: %s vs %s" % (i, sorted(dx), sorted(dy)))
        for g in dx:
            rel = abs(dx[g] - dy[g]) / max(abs(dx[g]), scale, 1e-30)
            worst = max(worst, rel)
            if rel > tol:
                fail("query %d, neighbour %d: distance %.9g vs %.9g (relative %.3g > %g)" %
                     (i, g, dx[g], dy[g], rel, tol))
    print("max_rel=%.3g" % worst)


if __name__ == "__main__":
    if len(sys.argv) not in (5, 6) or sys.argv[1] not in ("ave", "avg") or (len(sys.argv) == 6 and
                                                                          sys.argv[1] != "avg"):
        fail(__doc__)
    if sys.argv[1] == "ave":
        cmp_ave(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    else:
        cmp_avg(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]) if len(sys.argv) == 6 else 0.0)
