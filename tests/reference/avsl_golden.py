#!/usr/bin/python3
"""Golden tensors for the AVSL head, written from an independent PyTorch implementation of
shared/design/avsl-method.md §2-4 (autograd for every gradient; stop-gradients exactly where the spec puts them).

Run by hand with Debian's interpreter:  /usr/bin/python3 tests/reference/avsl_golden.py tests/golden
Writes (float64 maths, stored as float32):
  avsl_head_step.safetensors     two training steps (step 1 copies the link, step 2 EMA), K <= threshold: all proxies
  avsl_head_batchcls.safetensors one step with K above the threshold: columns = sorted unique batch labels (§3.5)
  avsl_dist.safetensors          an eval collector "checkpoint" (links, coef, bias, metadata) + inputs + d_f
  baseline_head.safetensors      the cosine Proxy-Anchor baseline head (§4.3), one step
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402

torch.set_default_dtype(torch.float64)
f32 = lambda t: t.detach().to(torch.float32).contiguous()  # noqa: E731


# ---- embedder (§2) ----------------------------------------------------------------------------------------------
def embed(F, W, b):
    """e = conv1x1(avg + max pool); the max gradient goes to the (unique in these inputs) arg-max."""
    flat = F.flatten(2)
    g = flat.mean(2) + flat.max(2)[0]
    return g @ W.flatten(1).T + b


def cam(F, W, b):
    Fd = F.detach()
    N, C, H, Wd = Fd.shape
    flat = Fd.flatten(2)
    mx, idx = flat.max(2)
    lam = torch.zeros_like(flat).scatter_(2, idx[..., None], (H * Wd * mx)[..., None])
    A = torch.einsum("ck,bkj->bcj", W.detach().flatten(1), flat + lam) + b.detach()[None, :, None]
    return A.view(N, -1, H, Wd)


def certainty(A):
    At = A - A.min(dim=3, keepdim=True)[0]  # per-row minimum over the width (§11-P4)
    q = At.flatten(2)
    q = q / q.abs().sum(2, keepdim=True).clamp_min(1e-12)
    return q.std(2, unbiased=True)


def batch_link(lo, hi):
    lo_p = Fn.adaptive_avg_pool2d(lo, hi.shape[2:])
    Lo = Fn.normalize(lo_p.flatten(2), dim=2, eps=1e-12)
    Hi = Fn.normalize(hi.flatten(2), dim=2, eps=1e-12)
    return torch.einsum("bmj,bnj->mn", Lo, Hi) / lo.shape[0]


def prepare(L, k):
    R = L.clamp_min(0)
    tau = R.topk(k, dim=0)[0][-1]
    S = R * (R >= tau - 1e-8)
    return S / (S.sum(0, keepdim=True) + 1e-8)


# ---- collector (§3.3) -------------------------------------------------------------------------------------------
def collector(xs, us, ys, vs, S, alpha, beta, gamma, p):
    """xs, ys: raw (un-normalised) embeddings with grad; us, vs, S constants. Returns d_f, [d_l]."""
    xh = [Fn.normalize(x, p=p, dim=1, eps=1e-12) for x in xs]
    yh = [Fn.normalize(y, p=p, dim=1, eps=1e-12) for y in ys]
    deltas = [(a[:, None, :] - c[None, :, :]).abs() ** p for a, c in zip(xh, yh)]
    dl = [d.sum(-1) for d in deltas]
    H = deltas[0].detach()
    for i in range(1, len(xs)):
        T = H @ S[i - 1]
        z = gamma * (us[i][:, None, :] * vs[i][None, :, :] * alpha[i] + beta[i])
        pi = torch.sigmoid(z)
        H = pi * deltas[i].detach() + (1 - pi) * T
    return H.sum(-1), dl


def pa_dist(d, ylab, zlab, mp, mn, a):
    """§4.1 as the reference evaluates it (exp everywhere, then masked)."""
    Mp = (ylab[:, None] == zlab[None, :]).double()
    Mn = 1 - Mp
    pos = torch.log(1 + (Mp * torch.exp(a * (d - mp))).sum(0))
    neg = torch.log(1 + (Mn * torch.exp(-a * (d - mn))).sum(0))
    has = Mp.sum(0) > 0
    lp = pos[has].sum() / has.sum() if has.any() else d.sum() * 0
    return lp + neg.sum() / d.shape[1]


def pa_cos(s, ylab, zlab, delta, a):
    Mp = (ylab[:, None] == zlab[None, :]).double()
    Mn = 1 - Mp
    pos = torch.log(1 + (Mp * torch.exp(-a * (s - delta))).sum(0))
    neg = torch.log(1 + (Mn * torch.exp(a * (s + delta))).sum(0))
    has = Mp.sum(0) > 0
    return pos[has].sum() / has.sum() + neg.sum() / s.shape[1]


# ---- one training step ------------------------------------------------------------------------------------------
CFG = dict(levels=3, C=(8, 12, 16), HW=((8, 8), (4, 4), (2, 2)), D=16, topk=5, m=0.5, gamma=10.0, p=2.0,
           pa=(1.8, 2.2, 16.0), final_pa=(1.8, 2.2, 16.0), w=(0.5, 1.0, 0.5))


def make_params(g, K):
    D, L = CFG["D"], CFG["levels"]
    P = {}
    for l in range(L):
        P[f"embedder.conv.{l}.weight"] = torch.randn(D, CFG["C"][l], 1, 1, generator=g) * (2.0 / D) ** 0.5
        P[f"embedder.conv.{l}.bias"] = torch.randn(D, generator=g) * 0.1
        P[f"collector.proxies.{l}"] = torch.randn(K, D, generator=g) * (1.0 / (3 * D)) ** 0.5
        P[f"collector.prob_coef.{l}"] = 1 + 0.3 * torch.randn(D, generator=g)
        P[f"collector.prob_bias.{l}"] = 0.05 * torch.randn(D, generator=g)
    # round to float32 so C and torch start from identical values
    return {k: v.to(torch.float32).to(torch.float64) for k, v in P.items()}


def make_feats(g, N):
    return [(torch.randn(N, c, h, w, generator=g).abs() + 0.01).to(torch.float32).to(torch.float64)
            for c, (h, w) in zip(CFG["C"], CFG["HW"])]


def train_step(P, links, init, feats, labels, K, threshold, out, pre):
    L, D = CFG["levels"], CFG["D"]
    prm = {k: v.clone().requires_grad_(True) for k, v in P.items()}
    feats = [f.clone().requires_grad_(True) for f in feats]
    W = [prm[f"embedder.conv.{l}.weight"] for l in range(L)]
    b = [prm[f"embedder.conv.{l}.bias"] for l in range(L)]
    e = [embed(feats[l], W[l], b[l]) for l in range(L)]
    A = [cam(feats[l], W[l], b[l]) for l in range(L)]
    u = [certainty(a) for a in A]
    for t in range(L - 1):
        bl = batch_link(A[t], A[t + 1])
        out[f"{pre}batch_link.{t}"] = f32(bl)
        links[t] = bl if not init else CFG["m"] * links[t] + (1 - CFG["m"]) * bl
        out[f"{pre}link.{t}"] = f32(links[t])
    S = [prepare(lk, CFG["topk"]) for lk in links]
    cols = torch.arange(K) if K <= threshold else torch.unique(labels)  # unique is sorted
    ys = [prm[f"collector.proxies.{l}"][cols] for l in range(L)]
    vs = [u[l].mean().expand(len(cols), D) for l in range(L)]
    alpha = [prm[f"collector.prob_coef.{l}"] for l in range(L)]
    beta = [prm[f"collector.prob_bias.{l}"] for l in range(L)]
    d_f, dl = collector(e, [x.detach() for x in u], ys, vs, S, alpha, beta, CFG["gamma"], CFG["p"])
    lf = pa_dist(d_f, labels, cols, *CFG["final_pa"])
    ll = [pa_dist(dl[l], labels, cols, *CFG["pa"]) for l in range(L)]
    total = lf + sum(w * x for w, x in zip(CFG["w"], ll))
    total.backward()
    for l in range(L):
        out[f"{pre}feat.{l}"] = f32(feats[l])
        out[f"{pre}emb.{l}"] = f32(e[l])
        out[f"{pre}cert.{l}"] = f32(u[l])
        out[f"{pre}dl.{l}"] = f32(dl[l])
        out[f"{pre}dfeat.{l}"] = f32(feats[l].grad)
    for t in range(L - 1):
        out[f"{pre}s_hat.{t}"] = f32(S[t])
    out[f"{pre}labels"] = labels.to(torch.int32).numpy()
    out[f"{pre}cols"] = cols.to(torch.int32).numpy()
    out[f"{pre}df"] = f32(d_f)
    out[f"{pre}losses"] = f32(torch.stack([total, lf] + ll))
    for k, v in prm.items():
        out[f"{pre}grad.{k}"] = f32(v.grad if v.grad is not None else torch.zeros_like(v))
    return links


def head_golden(path, N, K, threshold, labels_list, seed):
    g = torch.Generator().manual_seed(seed)
    P = make_params(g, K)
    out = {f"param.{k}": f32(v) for k, v in P.items()}
    links = [None] * (CFG["levels"] - 1)
    for s, lab in enumerate(labels_list):
        feats = make_feats(g, N)
        links = train_step(P, links, s > 0, feats, torch.tensor(lab), K, threshold, out, f"s{s + 1}.")
    meta = dict(N=N, K=K, threshold=threshold, steps=len(labels_list))
    st_write.save(path, {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in out.items()}, meta)


def dist_golden(path, seed):
    g = torch.Generator().manual_seed(seed)
    L, D, k, R, C = 3, 16, 5, 5, 7
    t = {}
    for l in range(L):
        t[f"collector.prob_coef.{l}"] = 1 + 0.5 * torch.randn(D, generator=g)
        t[f"collector.prob_bias.{l}"] = 0.2 * torch.randn(D, generator=g)
    for l in range(L - 1):
        t[f"collector.links.{l}"] = 0.3 * torch.randn(D, D, generator=g)
    for nm, n in (("x", R), ("y", C)):
        for l in range(L):
            t[f"{nm}.{l}"] = Fn.normalize(torch.randn(n, D, generator=g), dim=1)
            t[f"{nm}u.{l}"] = 0.15 * torch.rand(n, D, generator=g)
    t = {kk: v.to(torch.float32).to(torch.float64) for kk, v in t.items()}
    S = [prepare(t[f"collector.links.{l}"], k) for l in range(L - 1)]
    d_f, _ = collector([t[f"x.{l}"] for l in range(L)], [t[f"xu.{l}"] for l in range(L)],
                       [t[f"y.{l}"] for l in range(L)], [t[f"yu.{l}"] for l in range(L)], S,
                       [t[f"collector.prob_coef.{l}"] for l in range(L)],
                       [t[f"collector.prob_bias.{l}"] for l in range(L)], 10.0, 2.0)
    t["d_f"] = d_f
    meta = {"avsl.levels": L, "avsl.embeddings_dim": D, "avsl.topk_corr": k, "avsl.prob_gamma": "10",
            "avsl.index_p": "2"}
    st_write.save(path, {kk: f32(v).numpy() for kk, v in t.items()}, meta)


def baseline_golden(path, seed):
    g = torch.Generator().manual_seed(seed)
    N, C, H, W, D, K = 6, 16, 2, 2, 16, 4
    F = (torch.randn(N, C, H, W, generator=g).abs() + 0.01).to(torch.float32).to(torch.float64).requires_grad_()
    Wt = (torch.randn(D, C, generator=g) * (2.0 / D) ** 0.5).to(torch.float32).to(torch.float64).requires_grad_()
    b = (0.1 * torch.randn(D, generator=g)).to(torch.float32).to(torch.float64).requires_grad_()
    P = ((torch.rand(K, D, generator=g) * 2 - 1) / D ** 0.5).to(torch.float32).to(torch.float64).requires_grad_()
    labels = torch.tensor([0, 1, 1, 3, 0, 1])
    flat = F.flatten(2)
    e = (flat.mean(2) + flat.max(2)[0]) @ Wt.T + b
    s = Fn.normalize(e, dim=1) @ Fn.normalize(P, dim=1).T
    loss = pa_cos(s, labels, torch.arange(K), 0.1, 32.0)
    loss.backward()
    out = {"feat": F, "embedder.linear.weight": Wt, "embedder.linear.bias": b, "collector.proxies": P,
           "emb": Fn.normalize(e, dim=1), "sim": s, "loss": loss.reshape(1), "grad.embedder.linear.weight": Wt.grad,
           "grad.embedder.linear.bias": b.grad, "grad.collector.proxies": P.grad, "dfeat": F.grad}
    out = {kk: f32(v).numpy() for kk, v in out.items()}
    out["labels"] = labels.to(torch.int32).numpy()
    st_write.save(path, out, dict(N=N, C=C, H=H, W=W, D=D, K=K))


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    os.makedirs(d, exist_ok=True)
    head_golden(f"{d}/avsl_head_step.safetensors", 6, 4, 1000, [[0, 1, 1, 2, 3, 3], [2, 2, 0, 1, 0, 3]], 1)
    head_golden(f"{d}/avsl_head_batchcls.safetensors", 6, 7, 5, [[5, 2, 2, 6, 0, 5]], 2)
    dist_golden(f"{d}/avsl_dist.safetensors", 3)
    baseline_golden(f"{d}/baseline_head.safetensors", 4)
    print("wrote goldens to", d)
