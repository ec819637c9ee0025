"""Golden for libcommon/optim.c: torch.optim.AdamW (three optimisers, as in the official trainer), per-group
gradient clipping on the first iteration only, and StepLR suspended during warm-up.

Run by hand: /usr/bin/python3 tests/reference/optim_golden.py  -> tests/golden/optim.safetensors
Tensors: init.<name>, grad<k>.<name> (pre-clip gradient of iteration k), param<k>.<name> (after step k),
m.<name>, v.<name> (final Adam moments), lr<k> (per group lr used at iteration k), steplr_sop / steplr_cars
(61 per-epoch lrs of torch StepLR stepped only after warm-up epochs).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import st_write  # noqa: E402

torch.manual_seed(1234)
ITERS, WARM, STEP, GAMMA, MAXNORM = 5, 2, 1, 0.5, 10.0
# name, shape, group, trainable
SPEC = [("trunk.w", (4, 6), "trunk", True), ("trunk.bn", (6,), "trunk", False),
        ("embedder.w", (5, 4), "embedder", True), ("embedder.b", (5,), "embedder", True),
        ("collector.p", (3, 5), "collector", True), ("collector.a", (5,), "collector", True),
        ("buf", (7,), "none", False)]
LR = {"trunk": 1e-3, "embedder": 5e-3, "collector": 0.1}
WD = {"trunk": 0.01, "embedder": 1e-4, "collector": 0.1}

params = {n: torch.randn(*s, dtype=torch.float32).requires_grad_(t) for n, s, g, t in SPEC}
out = {f"init.{n}": p.detach().clone() for n, p in params.items()}
opts = {}
for grp in LR:
    ps = [params[n] for n, s, g, t in SPEC if g == grp and t]
    opts[grp] = torch.optim.AdamW(ps, lr=LR[grp], betas=(0.9, 0.999), eps=1e-8, weight_decay=WD[grp])
scheds = {grp: torch.optim.lr_scheduler.StepLR(o, step_size=STEP, gamma=GAMMA) for grp, o in opts.items()}

for k in range(ITERS):  # one iteration per "epoch" so the schedule moves inside the golden
    for grp, o in opts.items():
        o.zero_grad()
    for n, s, g, t in SPEC:
        if t:
            gr = torch.randn(*s)
            if k == 0 and g == "embedder":
                gr = gr * 20.0  # big enough to be clipped at iteration 0
            if k == 1 and g == "collector":
                gr = gr * 20.0  # not clipped: clipping happens at iteration 0 only
            params[n].grad = gr.clone()
            out[f"grad{k}.{n}"] = gr.clone()
    if k == 0:
        for grp in LR:
            torch.nn.utils.clip_grad_norm_([params[n] for n, s, g, t in SPEC if g == grp and t], MAXNORM)
    out[f"lr{k}"] = np.array([opts[g].param_groups[0]["lr"] for g in ("trunk", "embedder", "collector")],
                             dtype=np.float64)
    for grp, o in opts.items():
        if k >= WARM or grp != "trunk":
            o.step()
    if k >= WARM:
        for s in scheds.values():
            s.step()
    for n, p in params.items():
        out[f"param{k}.{n}"] = p.detach().clone()

for n, s, g, t in SPEC:
    if t:
        st = opts[g].state[params[n]]
        out[f"m.{n}"] = st["exp_avg"].clone()
        out[f"v.{n}"] = st["exp_avg_sq"].clone()


def steplr_table(lr0, step, gamma, warm=5, epochs=61):
    p = torch.nn.Parameter(torch.zeros(1))
    o = torch.optim.AdamW([p], lr=lr0)
    s = torch.optim.lr_scheduler.StepLR(o, step_size=step, gamma=gamma)
    lrs = []
    for e in range(epochs):
        lrs.append(o.param_groups[0]["lr"])
        o.step()
        if e >= warm:
            s.step()
    return np.array(lrs, dtype=np.float64)


out["steplr_sop"] = steplr_table(0.06, 15, 0.25)
out["steplr_cars"] = steplr_table(0.00025230934618157737, 5, 0.5)
dst = os.path.join(os.path.dirname(__file__), "..", "golden", "optim.safetensors")
st_write.save(dst, out, {"torch": torch.__version__, "script": "tests/reference/optim_golden.py"})
print("wrote", dst)
