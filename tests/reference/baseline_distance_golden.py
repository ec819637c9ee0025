#!/usr/bin/python3
"""Golden of the AVSL repository's proxy_anchor baseline (avsl-method.md §4.3 last paragraph, §11-P1): the pooled
feature (global average + global max pool) -> Linear C -> D, both embeddings and proxies L2-normalised, the
non-squared Euclidean distance d = ||x^ - p^||_2 in [0, 2], and the distance Proxy-Anchor of §4.1 (exp on every
entry, then masked, as the reference evaluates it) with --pa_pos_margin / --pa_neg_margin / --pa_alpha. Float64,
autograd for every gradient.

Run by hand:  /usr/bin/python3 tests/reference/baseline_distance_golden.py tests/golden
Writes baseline_distance.safetensors with two cases: "sop." the official SOP baseline's margins (1.8, 2.4, 16: every
negative inside its margin) and "small." (0.3, 1.2, 4), each with the inputs (feat, labels, parameters under their
checkpoint names), dist, loss, grad.<parameter> and dfeat.
"""
import os
import sys

import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402
from avsl_golden import pa_dist  # noqa: E402  (§4.1 as the reference evaluates it)

torch.set_default_dtype(torch.float64)
f32 = lambda t: t.detach().to(torch.float32).contiguous()  # noqa: E731


def case(prefix, seed, margins, out):
    g = torch.Generator().manual_seed(seed)
    N, C, H, W, D, K = 6, 16, 2, 2, 16, 4
    rnd = lambda *s: torch.randn(*s, generator=g).to(torch.float32).to(torch.float64)  # noqa: E731
    F = (rnd(N, C, H, W).abs() + 0.01).requires_grad_()
    Wt = (rnd(D, C) * (2.0 / D) ** 0.5).requires_grad_()
    b = (0.1 * rnd(D)).requires_grad_()
    P = ((torch.rand(K, D, generator=g) * 2 - 1) / D ** 0.5).to(torch.float32).to(torch.float64).requires_grad_()
    labels = torch.tensor([0, 1, 1, 3, 0, 1])
    flat = F.flatten(2)
    e = (flat.mean(2) + flat.max(2)[0]) @ Wt.T + b
    dist = (Fn.normalize(e, dim=1)[:, None, :] - Fn.normalize(P, dim=1)[None, :, :]).pow(2).sum(-1).sqrt()
    loss = pa_dist(dist, labels, torch.arange(K), *margins)
    loss.backward()
    t = {"feat": F, "embedder.linear.weight": Wt, "embedder.linear.bias": b, "collector.proxies": P, "dist": dist,
         "loss": loss.reshape(1), "grad.embedder.linear.weight": Wt.grad, "grad.embedder.linear.bias": b.grad,
         "grad.collector.proxies": P.grad, "dfeat": F.grad, "margins": torch.tensor(margins)}
    out.update({prefix + k: f32(v).numpy() for k, v in t.items()})
    out[prefix + "labels"] = labels.to(torch.int32).numpy()


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    out = {}
    case("sop.", 21, (1.8, 2.4, 16.0), out)
    case("small.", 22, (0.3, 1.2, 4.0), out)
    st_write.save(os.path.join(d, "baseline_distance.safetensors"), out, dict(N=6, C=16, H=2, W=2, D=16, K=4))
    print("wrote", os.path.join(d, "baseline_distance.safetensors"))
