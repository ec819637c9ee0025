#!/usr/bin/python3
"""stdiff.py A.safetensors B.safetensors [TOL [REGEX]]: the largest relative difference between the float32 tensors
of two checkpoints, per tensor max|a - b| / max|b| (a tensor that is zero in B: max|a|), over all tensors with the
same names (with REGEX: only those whose name it matches, re.search; "!REGEX": those it does not match). Prints
"max_rel R (tensor NAME)"; exits 1 when R > TOL (default 1e-5), the names or shapes differ, or REGEX selects none."""
import json
import re
import struct
import sys

import numpy as np


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, t in head.items():
        if name == "__metadata__" or t["dtype"] != "F32":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(blob[a:b], dtype="<f4").reshape(t["shape"]).astype(np.float64)
    return out


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    if a.keys() != b.keys():
        print("tensor names differ:", sorted(set(a) ^ set(b))[:5])
        return 1
    names = list(a)
    if len(sys.argv) > 4:
        pat = sys.argv[4]
        keep = not pat.startswith("!")
        rx = re.compile(pat if keep else pat[1:])
        names = [k for k in names if bool(rx.search(k)) == keep]
        if not names:
            print("no tensor selected by", pat)
            return 1
    worst, where = 0.0, ""
    for k in names:
        if a[k].shape != b[k].shape:
            print("shape of", k, "differs")
            return 1
        if a[k].size == 0:
            continue
        scale = np.abs(b[k]).max()
        d = np.abs(a[k] - b[k]).max()
        r = d / scale if scale > 0 else d
        if r > worst:
            worst, where = r, k
    print("max_rel %.3g (tensor %s)" % (worst, where))
    return 0 if worst <= tol else 1


sys.exit(main())
