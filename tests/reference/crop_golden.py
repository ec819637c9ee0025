#!/usr/bin/python3
"""Golden boxes of the training augmentation: torchvision's RandomResizedCrop.get_params + RandomHorizontalFlip
(avsl-method.md §1.3), driven by avsl's documented random stream instead of torch's generator. Everything is
re-implemented here from its description, nothing imported from the C code:

The stream (libcommon/rng.h, loader.h): Philox4x32-10 (Salmon et al. 2011, Random123 constants: multipliers
0xD2511F53, 0xCD9E8D57; key increments 0x9E3779B9, 0xBB67AE85; 10 rounds), key = the seed (64 bits: k0 low word,
k1 high word), counter = (c0, c1, c2, c3) = (low, high word of the draw counter; low, high word of the stream id).
The stream id of record `idx` in epoch `e` is splitmix64(splitmix64(splitmix64(e) ^ idx) ^ 0x61756700) (purpose tag
"aug"). Each Philox block yields 4 words consumed last first (out[3], out[2], out[1], out[0]); the counter starts at
0. A uniform float is (u32 >> 8) * 2^-24; an integer below n is Lemire's multiply-shift with rejection
(m = u32 * n; reject while (m mod 2^32) < (2^32 - n) mod n; result m >> 32).

Draws, in torchvision's order: per attempt (at most 10) scale s = lo + (hi - lo) * U and log-ratio
l = log(r_lo) + (log(r_hi) - log(r_lo)) * U, both in float32 (torch.empty(1).uniform_ on float32, log_ratio a float32
tensor), aspect = exp(l) in float32; w = round(sqrt(A * s * aspect)), h = round(sqrt(A * s / aspect)) in double with
Python's round (half to even); accepted -> top = below(H - h + 1), left = below(W - w + 1). Fallback as torchvision.
Then the flip: U < 0.5.

Run by hand:  /usr/bin/python3 tests/reference/crop_golden.py tests/golden
Writes crop_boxes.safetensors: "cases" (n, 5) int32 = (H, W, epoch, idx, seed) and "boxes" (n, 5) int32 =
(top, left, h, w, flip), for the default crop (scale [0.16, 1], ratio [0.75, 1.33]) and, in "cases_narrow" /
"boxes_narrow", scale [0.9, 1] ratio [2, 3] on tall images (the 10-attempt fallback).
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402

M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


def philox(key, ctr_hi, ctr_lo):
    c = [ctr_lo & M32, ctr_lo >> 32, ctr_hi & M32, ctr_hi >> 32]
    k0, k1 = key & M32, key >> 32
    for _ in range(10):
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c[3] ^ k1) & M32, p0 & M32]
        k0 = (k0 + 0x9E3779B9) & M32
        k1 = (k1 + 0xBB67AE85) & M32
    return c


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


class Stream:
    def __init__(self, seed, epoch, idx, tag=0x61756700):
        self.seed, self.id, self.ctr, self.buf = seed, splitmix64(splitmix64(splitmix64(epoch) ^ idx) ^ tag), 0, []

    def u32(self):
        if not self.buf:
            self.buf = philox(self.seed, self.id, self.ctr)
            self.ctr += 1
        return self.buf.pop()  # out[3] first

    def uniform(self):
        return np.float32((self.u32() >> 8) * (1.0 / 16777216.0))

    def below(self, n):
        m = self.u32() * n
        if (m & M32) < n:
            t = ((1 << 32) - n) % n
            while (m & M32) < t:
                m = self.u32() * n
        return m >> 32


def f32(x):
    return torch.tensor(x, dtype=torch.float32)


def params(H, W, scale, ratio, st):
    area = H * W
    log_ratio = torch.log(torch.tensor(ratio))  # float32, as torchvision
    for _ in range(10):
        s = (f32(scale[0]) + (f32(scale[1]) - f32(scale[0])) * f32(st.uniform())).item()
        lr = log_ratio[0] + (log_ratio[1] - log_ratio[0]) * f32(st.uniform())
        aspect = torch.exp(lr).item()
        target = area * s
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= W and 0 < h <= H:
            top = st.below(H - h + 1)
            left = st.below(W - w + 1)
            return top, left, h, w
    in_ratio = W / H
    if in_ratio < min(ratio):
        w, h = W, int(round(W / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = H, int(round(H * max(ratio)))
    else:
        w, h = W, H
    return (H - h) // 2, (W - w) // 2, h, w


def boxes(cases, scale, ratio):
    out = []
    for H, W, epoch, idx, seed in cases:
        st = Stream(seed, epoch, idx)
        top, left, h, w = params(H, W, scale, ratio, st)
        flip = int(st.uniform() < 0.5)
        out.append((top, left, h, w, flip))
    return np.array(out, dtype=np.int32)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    # Random123's known-answer vectors for philox4x32-10 (kat_vectors): the round function above is the published one
    assert philox(0, 0, 0) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox(0x299F31D0A4093822, 0x0370734413198A2E, 0x85A308D3243F6A88) == \
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    rs = np.random.RandomState(7)
    cases = [(256, 341, 0, 0, 0), (256, 256, 0, 1, 0), (341, 256, 3, 12345, 1), (256, 2000, 60, 59550, 42),
             (1, 1, 0, 5, 0), (7, 3, 1, 2, 3)]
    for _ in range(200):
        H, W = int(rs.randint(1, 600)), int(rs.randint(1, 600))
        cases.append((H, W, int(rs.randint(0, 61)), int(rs.randint(0, 1 << 31)), int(rs.randint(0, 5))))
    narrow = [(int(rs.randint(200, 400)), int(rs.randint(20, 60)), int(rs.randint(0, 61)), i, 0) for i in range(20)]
    out = {"cases": np.array(cases, dtype=np.int32), "boxes": boxes(cases, (0.16, 1.0), (0.75, 1.33)),
           "cases_narrow": np.array(narrow, dtype=np.int32), "boxes_narrow": boxes(narrow, (0.9, 1.0), (2.0, 3.0))}
    # the first block of one stream, for a direct check of Philox and the stream id
    st = Stream(0, 0, 0)
    out["words_e0_i0_s0"] = np.array([st.u32() for _ in range(8)], dtype=np.int64)
    st_write.save(os.path.join(d, "crop_boxes.safetensors"), out)
    print("wrote", os.path.join(d, "crop_boxes.safetensors"))


if __name__ == "__main__":
    main()
