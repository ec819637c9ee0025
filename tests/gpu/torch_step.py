#!/usr/bin/python3
"""torch_step.py: the PyTorch peer row of tests/gpu/run.sh.

  torch_step.py check                 print "cuda <device name>" when torch imports with a usable CUDA device,
                                      else one line saying why (exit 0 either way)
  torch_step.py step BATCH STEPS      ResNet-50 at 224x224 (defined here, torchvision is not needed), channels_last,
                                      autocast bf16, SGD with momentum, random inputs and labels: one forward, backward
                                      and update per step; prints "img_s X" from the median of the timed steps after 3
                                      warm-up steps. The trunk step only (no AVSL head): the bulk of avsl-train's
                                      step at this size.
"""
import statistics
import sys
import time


def check():
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure is the answer
        print("torch does not import: %s" % str(e).splitlines()[0])
        return
    if not torch.cuda.is_available():
        print("torch %s imports, but torch.cuda.is_available() is False" % torch.__version__)
        return
    print("cuda %s (torch %s)" % (torch.cuda.get_device_name(0), torch.__version__))


def resnet50(nn):
    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.c1 = nn.Conv2d(cin, width, 1, bias=False)
            self.b1 = nn.BatchNorm2d(width)
            self.c2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.b2 = nn.BatchNorm2d(width)
            self.c3 = nn.Conv2d(width, cout, 1, bias=False)
            self.b3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.b1(self.c1(x)))
            y = self.relu(self.b2(self.c2(y)))
            y = self.b3(self.c3(y))
            return self.relu(y + (x if self.down is None else self.down(x)))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            layers.append(Bottleneck(cin, width, stride if b == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 512)]
    return nn.Sequential(*layers)


def step(batch, steps):
    import torch
    import torch.nn as nn
    dev = torch.device("cuda")
    model = resnet50(nn).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 224, 224, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, 512, (batch,), device=dev)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for i in range(steps + 3):
        torch.cuda.synchronize()
        t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t)
    print("img_s %.1f" % (batch / statistics.median(times)))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "check":
        check()
    elif len(sys.argv) == 4 and sys.argv[1] == "step":
        step(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(__doc__)
