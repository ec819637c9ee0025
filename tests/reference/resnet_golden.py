"""Golden files for tests/unit/test_resnet.c: small ResNet trunks in torchvision's layout, forward features and
every parameter gradient, with frozen BN (eval) and training-mode BN.

Run by hand with Debian's interpreter:  /usr/bin/python3 tests/reference/resnet_golden.py
Writes tests/golden/resnet_<name>.safetensors, each holding:
  the weights under their torchvision names (conv1.weight, layer1.0.bn1.running_mean, ...),
  input (N,Cin,H,W), g0 g1 g2 (upstream gradients of the layer2/3/4 outputs),
  for mode in (frozen, train): <mode>.feat0..2, <mode>.grad.<param name> (convs; BN weight/bias in train mode),
  train.running_mean/var after the step: train.rs.<bn name>.running_mean / .running_var.
Loss = sum_l sum(feat_l * g_l). Computed in float64 (weights and input are float32 values), stored as float32.
The trunk class reuses torchvision's BasicBlock/Bottleneck and ResNet._make_layer; with width 64 and the ImageNet
stem it is exactly torchvision's resnet18/50 (checked below against torchvision.models state_dict shapes).
"""
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

sys.path.insert(0, os.path.dirname(__file__))
import st_write  # noqa: E402


class Trunk(ResNet):
    def __init__(self, block, layers, width=64, in_ch=3, cifar=False):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        if cifar:
            self.conv1 = nn.Conv2d(in_ch, width, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_ch, width, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f1 = self.layer2(self.layer1(x))
        f2 = self.layer3(f1)
        f3 = self.layer4(f2)
        return [f1, f2, f3]


def check_layout():
    for mine, ref in ((Trunk(BasicBlock, [2, 2, 2, 2]), torchvision.models.resnet18()),
                      (Trunk(Bottleneck, [3, 4, 6, 3]), torchvision.models.resnet50())):
        a = {k: tuple(v.shape) for k, v in mine.state_dict().items()}
        b = {k: tuple(v.shape) for k, v in ref.state_dict().items() if not k.startswith("fc.")}
        assert a == b, "trunk layout differs from torchvision"


def make(name, block, layers, width, in_ch, cifar, shape):
    torch.manual_seed(1234)
    m = Trunk(block, layers, width, in_ch, cifar)
    with torch.no_grad():  # non-trivial BN statistics and affine parameters
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
    # computed in float64 from float32-representable weights and input, stored as float32: the golden is the
    # exact answer, so ours and torch's float32 rounding are both measured against it
    init = {k: v.clone() for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    m = m.double()
    x = torch.randn(*shape).double()
    out = {"input": x}
    out.update(init)
    feats = m(x)
    gs = [torch.randn_like(f) for f in feats]
    for i, g in enumerate(gs):
        out[f"g{i}"] = g
    for mode in ("frozen", "train"):
        m.load_state_dict({k: v.double() for k, v in init.items()}, strict=False)
        m.zero_grad()
        if mode == "frozen":
            m.eval()
            for mod in m.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.weight.requires_grad_(False)
                    mod.bias.requires_grad_(False)
        else:
            m.train()
            for p in m.parameters():
                p.requires_grad_(True)
        xx = x.clone()
        feats = m(xx)
        loss = sum((f * g).sum() for f, g in zip(feats, gs))
        loss.backward()
        for i, f in enumerate(feats):
            out[f"{mode}.feat{i}"] = f.detach().clone()
        for k, p in m.named_parameters():
            if p.grad is not None:
                out[f"{mode}.grad.{k}"] = p.grad.clone()
        if mode == "train":
            for k, v in m.state_dict().items():
                if k.endswith("running_mean") or k.endswith("running_var"):
                    out[f"train.rs.{k}"] = v.clone()
    out = {k: v.detach().float().contiguous() for k, v in out.items()}
    path = os.path.join(os.path.dirname(__file__), "..", "golden", f"resnet_{name}.safetensors")
    st_write.save(path, out, {"arch": name, "width": width, "in_channels": in_ch, "shape": "x".join(map(str, shape))})
    print(path, sum(v.numel() for v in out.values()) * 4 // 1024, "KiB")


if __name__ == "__main__":
    torch.set_num_threads(1)
    check_layout()
    make("resnet18_w4", BasicBlock, [2, 2, 2, 2], 4, 3, False, (2, 3, 64, 64))
    make("resnet50_w2", Bottleneck, [3, 4, 6, 3], 2, 3, False, (2, 3, 64, 64))
    make("cifar_resnet18_w4", BasicBlock, [2, 2, 2, 2], 4, 1, True, (2, 1, 28, 28))
