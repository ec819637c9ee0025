"""PyTorch peer of tests/bench/memory.sh: one ResNet-50 inference batch under torch.no_grad(), or one training
step, on random images; run under peak_rss.py, which reports the process's peak RSS.

/usr/bin/python3 tests/bench/memory_torch.py -m embed -n 180 -s 224 -t 2
/usr/bin/python3 tests/bench/memory_torch.py -m train -n 32 -s 224 -t 2 -k 4

embed: torchvision resnet50 without its fc, eval mode, torch.no_grad(): the 2048-d pooled features of the batch
(what a retrieval model's trunk computes; AVSL's embedder is small next to it).
train: the same trunk with frozen BN as AVSL's default (eval-mode BN, gamma/beta without gradient), a linear
512-d embedding, the Proxy-Anchor loss over k proxies, backward, one AdamW step: a metric-learning training
step as in the paper's baseline (avsl-train's step adds the AVSL head, whose activations are small next to the
trunk's).
"""
import argparse

import torch
import torch.nn.functional as F
import torchvision

ap = argparse.ArgumentParser()
ap.add_argument("-m", default="embed")
ap.add_argument("-n", type=int, default=180)
ap.add_argument("-s", type=int, default=224)
ap.add_argument("-t", type=int, default=2)
ap.add_argument("-k", type=int, default=4)
a = ap.parse_args()
torch.set_num_threads(a.t)
torch.manual_seed(0)
trunk = torchvision.models.resnet50(weights=None)
trunk.fc = torch.nn.Identity()
trunk.eval()
x = torch.rand(a.n, 3, a.s, a.s) * 2 - 1
if a.m == "embed":
    with torch.no_grad():
        e = trunk(x)
    assert e.shape == (a.n, 2048)
else:
    for mod in trunk.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.weight.requires_grad_(False)
            mod.bias.requires_grad_(False)
    emb = torch.nn.Linear(2048, 512)
    proxies = torch.nn.Parameter(torch.randn(a.k, 512))
    params = [p for p in trunk.parameters() if p.requires_grad] + list(emb.parameters()) + [proxies]
    opt = torch.optim.AdamW(params, lr=1e-4)
    labels = torch.arange(a.n) % a.k
    e = F.normalize(emb(trunk(x)))
    cos = e @ F.normalize(proxies).t()  # (N, K)
    pos = F.one_hot(labels, a.k).float()
    delta, alpha = 0.1, 32.0
    p_term = torch.log1p((torch.exp(-alpha * (cos - delta)) * pos).sum(0)).sum() / pos.sum(0).clamp(min=1).gt(0).sum()
    n_term = torch.log1p((torch.exp(alpha * (cos + delta)) * (1 - pos)).sum(0)).sum() / a.k
    loss = p_term + n_term
    opt.zero_grad()
    loss.backward()
    opt.step()
