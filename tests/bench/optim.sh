#!/usr/bin/env bash
# AdamW step on a ResNet-50-sized parameter set: avsl (adamw_step) vs torch.optim.AdamW (single-tensor and foreach),
# same thread count, best of 5 steps each.
set -u
T=${BENCH_THREADS:-2}
ours=$("$AVSL_BENCH_BIN/bench_optim" "$T" 5) || exit 1
read -r _ ours_s n <<<"$ours"
peer=$(/usr/bin/python3 - "$T" "$n" <<'PY'
import sys, time, torch
t, n = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(t)
torch.manual_seed(0)
sizes = [480000] * 53 + [1024] * 105 + [512 * 512, 512 * 1024, 512 * 2048] + [51200] * 3
ps = [torch.randn(s).requires_grad_() for s in sizes]
for p in ps:
    p.grad = torch.randn_like(p) * 0.01
for foreach in (False, True):
    o = torch.optim.AdamW(ps, lr=1e-4, weight_decay=1e-4, foreach=foreach)
    o.step()
    best = 1e30
    for _ in range(5):
        t0 = time.perf_counter(); o.step(); best = min(best, time.perf_counter() - t0)
    print(best, end=" ")
PY
) || exit 1
read -r single fe <<<"$peer"
printf '%-28s %12s %12s\n' "AdamW step, $n floats" "seconds" "torch/ours"
printf '%-28s %12.4f %12s\n' "avsl adamw_step ($T thr)" "$ours_s" "1.00"
printf '%-28s %12.4f %12.2f\n' "torch AdamW" "$single" "$(echo "$single / $ours_s" | bc -l)"
printf '%-28s %12.4f %12.2f\n' "torch AdamW foreach" "$fe" "$(echo "$fe / $ours_s" | bc -l)"
