"""PyTorch peer of bench_trunk: prints `trunk ARCH N SIZE MODE IMG_PER_S -` in the same format.

/usr/bin/python3 tests/bench/trunk_torch.py -a resnet50 -n 8 -s 224 -m fwd -t 2 -i 2
Frozen BN (eval-mode BN, gamma/beta without gradient) as in AVSL; the backward starts from gradients on the
layer2/3/4 outputs, like bench_trunk. The CIFAR variant is built from torchvision's blocks
(tests/reference/resnet_golden.py).
"""
import argparse
import os
import sys
import time

import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from resnet_golden import Trunk  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("-a", default="resnet50")
ap.add_argument("-n", type=int, default=8)
ap.add_argument("-s", type=int, default=224)
ap.add_argument("-c", type=int, default=3)
ap.add_argument("-t", type=int, default=2)
ap.add_argument("-i", type=int, default=2)
ap.add_argument("-m", default="fwd")
a = ap.parse_args()
torch.set_num_threads(a.t)
cifar = a.a.startswith("cifar_")
base = a.a[6:] if cifar else a.a
block, layers = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet34": (BasicBlock, [3, 4, 6, 3]),
                 "resnet50": (Bottleneck, [3, 4, 6, 3])}[base]
m = Trunk(block, layers, 64, a.c, cifar).eval()
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.weight.requires_grad_(False)
        mod.bias.requires_grad_(False)
x = torch.rand(a.n, a.c, a.s, a.s) * 2 - 1
bwd = a.m == "fwdbwd"
best = 1e30
for it in range(a.i + 1):
    t0 = time.perf_counter()
    if bwd:
        f = m(x)
        loss = sum((t * 1e-3).sum() for t in f)
        loss.backward()
    else:
        with torch.no_grad():
            m(x)
    t = time.perf_counter() - t0
    if it and t < best:
        best = t
print(f"trunk {a.a} {a.n} {a.s} {a.m} {a.n / best:.2f} -")
