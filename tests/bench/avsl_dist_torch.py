#!/usr/bin/python3
"""The AVSL eval distance computed the way the official code does it (method §3.3): per row slice, dense per-pair
difference tensors (slice, C, D), a dense matmul with the top-k masked, column-normalised links, sigmoid gates.
Same sizes as bench_avsl_dist (D = 512, 3 levels, top-k 128, p = 2).
Prints "torch SLICE PAIRS_PER_WALL_S PAIRS_PER_CPU_S".
Usage: avsl_dist_torch.py N THREADS [SLICE ...]"""
import sys
import time

import torch


def prepare(L, k):
    R = L.clamp_min(0)
    tau = R.topk(k, dim=0)[0][-1]
    S = R * (R >= tau - 1e-8)
    return S / (S.sum(0, keepdim=True) + 1e-8)


def dist(x, u, y, v, S, alpha, beta, gamma, slice_rows):
    out = torch.empty(x[0].shape[0], y[0].shape[0])
    for r0 in range(0, x[0].shape[0], slice_rows):
        sl = slice(r0, r0 + slice_rows)
        deltas = [(a[sl, None, :] - b[None, :, :]) ** 2 for a, b in zip(x, y)]
        H = deltas[0]
        for i in range(1, len(x)):
            T = H @ S[i - 1]
            pi = torch.sigmoid(gamma * (u[i][sl, None, :] * v[i][None, :, :] * alpha[i] + beta[i]))
            H = pi * deltas[i] + (1 - pi) * T
        out[sl] = H.sum(-1)
    return out


def main():
    N = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    slices = [int(s) for s in sys.argv[3:]] or [10, 50]
    D, L, k = 512, 3, 128
    g = torch.Generator().manual_seed(0)
    S = [prepare(0.2 * torch.randn(D, D, generator=g), k) for _ in range(L - 1)]
    alpha = [1 + 0.1 * torch.randn(D, generator=g) for _ in range(L)]
    beta = [0.1 * torch.randn(D, generator=g) for _ in range(L)]
    x = [torch.nn.functional.normalize(torch.randn(N, D, generator=g), dim=1) for _ in range(L)]
    u = [0.05 * torch.rand(N, D, generator=g) for _ in range(L)]
    with torch.no_grad():
        dist([t[:20] for t in x], [t[:20] for t in u], x, u, S, alpha, beta, 10.0, 10)  # warm-up
        for s in slices:
            t0, c0 = time.perf_counter(), time.process_time()
            dist(x, u, x, u, S, alpha, beta, 10.0, s)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            print(f"torch {s} {N * N / dt:.0f} {N * N / dc:.0f}", flush=True)


if __name__ == "__main__":
    main()
