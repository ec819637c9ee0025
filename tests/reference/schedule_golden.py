#!/usr/bin/python3
"""Golden of the trainer's schedule (avsl-method.md §5, §11-P3, §11-P11, §11-P14), with PyTorch's own pieces as the
official trainer uses them: three torch.optim.AdamW optimisers (trunk, embedder, collector), a StepLR each that is
not stepped during warm-up and stepped after every later epoch, only the --warm_up_list optimisers stepping during
warm-up, torch.nn.utils.clip_grad_norm_(group, 10) on the very first iteration only, evaluation after epoch e when
e % interval == 0, and the manager's model selection / early stop (strict improvement is a new best; otherwise the
counter grows by interval; stop when it reaches the patience or when R@1 <= 0.6 x best).

The model is tiny and exact: one tensor per group, loss = sum_g a_g / 2 * ||w_g - x_{g,s}||^2 at iteration s, so the
gradient a_g (w_g - x_{g,s}) is computed the same way in C. The step-0 scales push the trunk and collector norms
above 10 (clipped) and leave the embedder below (not clipped); later iterations have norms above 10 too (not
clipped: the official clipper's iterator is spent).

Run by hand:  /usr/bin/python3 tests/reference/schedule_golden.py tests/golden
Writes schedule.safetensors: init.{trunk,embedder,collector}, x.{group} (iterations, n) targets, scale (iterations, 3),
after.e{E}.{group} parameters after epoch E, lr (epochs, 3) the lr each group used in each epoch, active (epochs, 3),
clipped (iterations, 3) whether clipping changed the gradient, and for two R@1 sequences r1.{k} (evaluations),
eval_epochs, best.{k} (new-best flags), stop.{k} (the epoch after which training stops, -1 for none).
Metadata: the configuration.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_write  # noqa: E402

torch.set_default_dtype(torch.float64)
GROUPS = ("trunk", "embedder", "collector")
SIZES = (6, 4, 5)
CFG = dict(lr=(0.01, 0.02, 0.05), wd=0.05, warm_up=1, warm_up_list=("embedder", "collector"), step=2, gamma=0.5,
           epochs=5, iters=2, clip_norm=10.0, interval=2, patience=4)


def run():
    g = torch.Generator().manual_seed(5)
    f32 = lambda t: t.to(torch.float32).to(torch.float64)  # noqa: E731
    init = {n: f32(torch.randn(k, generator=g)) for n, k in zip(GROUPS, SIZES)}
    its = CFG["epochs"] * CFG["iters"]
    x = {n: f32(torch.randn(its, k, generator=g)) for n, k in zip(GROUPS, SIZES)}
    # step 0: trunk and collector gradients of norm ~ 40-90 (clipped to 10), embedder ~ 3 (not clipped)
    scale = torch.tensor([[30.0, 1.0, 25.0]] + [[20.0, 15.0, 12.0]] * (its - 1))
    P = {n: init[n].clone().requires_grad_() for n in GROUPS}
    opt = {n: torch.optim.AdamW([P[n]], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=CFG["wd"])
           for n, lr in zip(GROUPS, CFG["lr"])}
    sched = {n: torch.optim.lr_scheduler.StepLR(opt[n], step_size=CFG["step"], gamma=CFG["gamma"]) for n in GROUPS}
    out = {"init." + n: init[n] for n in GROUPS}
    out.update({"x." + n: x[n] for n in GROUPS})
    out["scale"] = scale
    lrs, actives, clipped = [], [], []
    it = 0
    for epoch in range(CFG["epochs"]):
        active = GROUPS if epoch >= CFG["warm_up"] else CFG["warm_up_list"]
        lrs.append([opt[n].param_groups[0]["lr"] for n in GROUPS])
        actives.append([float(n in active) for n in GROUPS])
        for _ in range(CFG["iters"]):
            for n in GROUPS:
                opt[n].zero_grad()
            loss = sum(scale[it, i] / 2 * ((P[n] - x[n][it]) ** 2).sum() for i, n in enumerate(GROUPS))
            loss.backward()
            row = []
            for n in GROUPS:
                before = P[n].grad.clone()
                if it == 0:  # the official clipper: a spent iterator after the first call (§11-P3)
                    torch.nn.utils.clip_grad_norm_([P[n]], CFG["clip_norm"])
                row.append(float(not torch.equal(before, P[n].grad)))
            clipped.append(row)
            for n in active:
                opt[n].step()
            it += 1
        if epoch >= CFG["warm_up"]:
            for n in GROUPS:
                sched[n].step()
        for n in GROUPS:
            out[f"after.e{epoch}.{n}"] = P[n].detach().clone()
    out["lr"] = torch.tensor(lrs)
    out["active"] = torch.tensor(actives)
    out["clipped"] = torch.tensor(clipped)
    return out


def manager(r1s):
    """The official manager's selection: returns (eval epochs, new-best flags, stop epoch or -1)."""
    epochs = [e for e in range(CFG["epochs"]) if e % CFG["interval"] == 0]
    best, bad, flags, stop = None, 0, [], -1
    for e, r in zip(epochs, r1s):
        if best is None or r > best:
            best, bad = r, 0
            flags.append(1.0)
        else:
            bad += CFG["interval"]
            flags.append(0.0)
        if bad >= CFG["patience"] or (best > 0 and r <= 0.6 * best):
            stop = e
            break
    return epochs, flags, stop


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    out = {k: v.to(torch.float32).numpy() for k, v in run().items()}
    seqs = {"a": [0.5, 0.5, 0.45], "b": [0.5, 0.29, 0.6], "c": [0.2, 0.3, 0.25]}
    for k, r1s in seqs.items():
        epochs, flags, stop = manager(r1s)
        out["r1." + k] = np.array(r1s, dtype=np.float32)
        out["eval_epochs"] = np.array(epochs, dtype=np.int32)
        out["best." + k] = np.array(flags, dtype=np.float32)
        out["stop." + k] = np.array([stop], dtype=np.int32)
    meta = {k: " ".join(map(str, v)) if isinstance(v, tuple) else str(v) for k, v in CFG.items()}
    st_write.save(os.path.join(d, "schedule.safetensors"), out, meta)
    print("wrote", os.path.join(d, "schedule.safetensors"))


if __name__ == "__main__":
    main()
