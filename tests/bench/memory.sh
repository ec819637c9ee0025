#!/usr/bin/env bash
# tests/bench/memory.sh: peak resident memory (the process's ru_maxrss, tests/bench/peak_rss.py) of ResNet-50
# inference and of one training step, ours against PyTorch 1.13 (tests/bench/memory_torch.py) at the same batch.
#   embed: avsl-embed of EMBED_BATCH images in one batch (the forward-only plan) vs torch.no_grad() inference.
#   train: one avsl-train step (AVSL head, frozen BN, --warm_up 0 so the trunk's backward runs; no test split,
#          so no evaluation plan) vs a PyTorch step of the same trunk with a linear embedding and Proxy-Anchor loss.
# The checkpoint avsl-embed reads is the one the training step writes (torchvision's initialisation, one AdamW step).
# Env: SIZE (224), EMBED_BATCH (180), TRAIN_BATCH (32: batch 180 training needs ~17 GB in either tool), THREADS.
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${AVSL_BIN:-$PWD/${BUILD:-build}/bin}
PY=/usr/bin/python3
S=${SIZE:-224}
EB=${EMBED_BATCH:-180}
TB=${TRAIN_BATCH:-32}
TH=${THREADS:-$(nproc)}
K=4
[ -x "$BIN/avsl-embed" ] || { echo "memory.sh: $BIN/avsl-embed not built" >&2; exit 1; }
$PY -c 'import torch, torchvision, PIL' 2>/dev/null || { echo "memory.sh: needs python3-torch, python3-torchvision, python3-pil" >&2; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# K classes of images one resize away from S (as a dataset prepared with --resize 256 for 224 px)
R=$((S * 8 / 7))
$PY - "$W/img" "$R" "$K" "$TB" "$EB" <<'PYEOF' || exit 1
import sys, os
import numpy as np
from PIL import Image
root, r, k, tb, eb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
g = np.random.default_rng(1)
for split, n in (("train", tb), ("test", eb)):
    for i in range(n):
        d = os.path.join(root, split, f"c{i % k}")
        os.makedirs(d, exist_ok=True)
        yy, xx = np.mgrid[0:r, 0:r]
        base = np.stack([np.sin(xx * (0.02 + 0.01 * c) + i) * np.cos(yy * 0.03 * (c + 1)) for c in range(3)], -1)
        px = np.clip((base * 0.4 + 0.5 + 0.1 * g.standard_normal((r, r, 3))) * 255, 0, 255).astype(np.uint8)
        Image.fromarray(px).save(os.path.join(d, f"{i:04d}.png"))
PYEOF
"$BIN/avsl-prep" -q --layout imagefolder --split train --resize "$R" -o "$W/train.avs" "$W/img" || exit 1
"$BIN/avsl-prep" -q --layout imagefolder --split test --resize "$R" -o "$W/test.avs" "$W/img" || exit 1

peak() { # peak RSS in MB of a command: the last line of peak_rss.py
	local out
	out=$($PY tests/bench/peak_rss.py "$@") || { echo "memory.sh: failed: $*" >&2; return 1; }
	awk '$1=="peak_rss"{printf "%.0f\n", $2 / 1024}' <<<"$out" | tail -n 1
}

ours_t=$(peak "$BIN/avsl-train" -q --data_path "$W/train.avs" --arch resnet50 --input-size "$S" --resize "$R" \
	--batch_size "$TB" --epochs 1 --warm_up 0 --threads "$TH" -o "$W/run") || exit 1
torch_t=$(peak $PY tests/bench/memory_torch.py -m train -n "$TB" -s "$S" -t "$TH" -k "$K") || exit 1
# -v: the planned activation arena on stderr (and the progress, which -q would hide: a few lines)
ours_e=$(peak "$BIN/avsl-embed" -v -b "$EB" -t "$TH" -m "$W/run/model.safetensors" -o "$W/e.ave" "$W/test.avs" \
	2>"$W/embed.err") || { cat "$W/embed.err" >&2; exit 1; }
torch_e=$(peak $PY tests/bench/memory_torch.py -m embed -n "$EB" -s "$S" -t "$TH") || exit 1
arena=$(sed -n 's/.*activation arena: \([0-9.]*\) MB.*/\1/p' "$W/embed.err")

printf '%-44s %10s %12s %8s\n' "ResNet-50 ${S}px, $TH threads, peak RSS" "ours MB" "PyTorch MB" "ratio"
printf '%-44s %10s %12s %8.2f\n' "inference, batch $EB (avsl-embed / no_grad)" "$ours_e" "$torch_e" \
	"$(awk -v a="$ours_e" -v b="$torch_e" 'BEGIN{print a/b}')"
printf '%-44s %10s %12s %8.2f\n' "one training step, batch $TB" "$ours_t" "$torch_t" \
	"$(awk -v a="$ours_t" -v b="$torch_t" 'BEGIN{print a/b}')"
echo "ratio = ours / PyTorch (lower is less memory); avsl-embed's forward-only activation arena: ${arena:-?} MB"
echo "target: avsl-embed at batch 180, 224 px under 2500 MB: $(awk -v a="$ours_e" -v s="$S" -v b="$EB" \
	'BEGIN{if (s != 224 || b != 180) print "not this configuration"; else print (a < 2500 ? "met" : "NOT met")}')"
