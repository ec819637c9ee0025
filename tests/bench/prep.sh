#!/usr/bin/env bash
# tests/bench/prep.sh: avsl-prep throughput and shard size against a PIL loop doing the same work.
#
# Generates ~200 photo-like JPEGs (about 500x375, quality 90) with PIL, then times, with the same thread count:
#   avsl-prep          decode (libjpeg, or stb_image) + resize shorter side 256 (PIL bilinear) + filter + zstd
#   PIL + PNG          Image.open + convert RGB + resize((w,h), BILINEAR) (torchvision Resize(256)) + save PNG
#   PIL + raw          the same, saving the raw RGB bytes (no compression)
# and prints images/s, output bytes, the ratios, and shard size against source JPEG bytes for several zstd levels.
# Env: BENCH_IMAGES (200), BENCH_THREADS (all CPUs), PY (/usr/bin/python3).
set -u
cd "$(dirname "$0")/../.." || exit 1
AVSL_BIN=${AVSL_BIN:-$PWD/build/bin}
PY=${PY:-/usr/bin/python3}
N=${BENCH_IMAGES:-200}
TH=${BENCH_THREADS:-$(nproc)}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$PY" - "$T/data" "$N" <<'EOF' || exit 1
import os, sys
import numpy as np
from PIL import Image, ImageFilter
root, n = sys.argv[1], int(sys.argv[2])
rs = np.random.RandomState(0)
for i in range(n):
    h, w = (375, 500) if i % 4 else (500, 375)
    # photo-like: octaves of blurred noise (most energy at low frequencies), a few edges, sensor noise
    img = np.zeros((h, w, 3))
    for octave, amp in ((64, 90), (16, 40), (4, 15)):
        small = rs.rand(h // octave + 2, w // octave + 2, 3)
        up = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), float)
        img += (up / 255 - 0.5) * amp
    img += 128 + rs.randn(h, w, 3) * 3
    y0, x0 = rs.randint(0, h // 2), rs.randint(0, w // 2)
    img[y0:y0 + h // 3, x0:x0 + w // 3] += rs.randint(-60, 60, 3)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))
    d = os.path.join(root, "train", "c%02d" % (i % 10))
    os.makedirs(d, exist_ok=True)
    im.save(os.path.join(d, "%04d.jpg" % i), quality=90)
EOF
jpeg_bytes=$(find "$T/data" -name '*.jpg' -printf '%s\n' | awk '{s += $1} END {print s}')

# PIL peer: a process pool of TH workers over the same files (a Python thread pool would serialise on the GIL)
cat >"$T/peer.py" <<'EOF'
import os, resource, sys, time
from multiprocessing import Pool
from PIL import Image
src, dst, mode, th = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".jpg"))
def one(i):
    im = Image.open(files[i]).convert("RGB")
    w, h = im.size
    size = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    im = im.resize(size, Image.BILINEAR)
    out = os.path.join(dst, "%05d" % i)
    if mode == "png":
        im.save(out + ".png")
    else:
        with open(out + ".raw", "wb") as f:
            f.write(im.tobytes())
os.makedirs(dst, exist_ok=True)
# the pool is started before the clock (generous to the peer: no process start-up in its time)
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
s0 = resource.getrusage(resource.RUSAGE_SELF)
with Pool(th) as p:
    p.map(abs, range(th))
    t0 = time.perf_counter()
    p.map(one, range(len(files)), chunksize=8)
    dt = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
s1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) + (s1.ru_utime + s1.ru_stime - s0.ru_utime - s0.ru_stime)
size = sum(os.path.getsize(os.path.join(dst, f)) for f in os.listdir(dst))
print("%.6f %.6f %d" % (dt, cpu, size))
EOF

run_prep() { # LEVEL -> "wall_seconds cpu_seconds bytes"
	rm -f "$T/out.avs"
	/usr/bin/time -f '%e %U %S' -o "$T/time" \
		"$AVSL_BIN/avsl-prep" -q --threads "$TH" --level "$1" --split train -o "$T/out.avs" "$T/data" || exit 1
	read -r e u s <"$T/time"
	echo "$e $(echo "$u + $s" | bc -l) $(stat -c %s "$T/out.avs")"
}
# the machine may be shared: wall time measures throughput, CPU time (user + system, all threads and worker
# processes) measures the work per image and is what a busy machine distorts least; best of 2 runs each
best() {
	local a b
	a=$("$@")
	b=$("$@")
	if (($(echo "${a%% *} < ${b%% *}" | bc -l))); then echo "$a"; else echo "$b"; fi
}
cat "$T"/data/train/*/*.jpg >/dev/null
read -r prep_w prep_c prep_b < <(best run_prep 1)
read -r png_w png_c png_b < <(best "$PY" "$T/peer.py" "$T/data" "$T/png" png "$TH")
read -r raw_w raw_c raw_b < <(best "$PY" "$T/peer.py" "$T/data" "$T/raw" raw "$TH")

r() { echo "$N / $1" | bc -l; }
echo "prep benchmark: $N JPEGs (~500x375, q90), $jpeg_bytes bytes; resize shorter side 256; $TH thread(s); load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-22s %10s %9s %12s %12s %9s\n' contender "images/s" "x (wall)" "img/cpu-s" "x (cpu)" "out MB"
line() { # name wall cpu bytes
	printf '%-22s %10.1f %9.2f %12.1f %12.2f %9.2f\n' "$1" "$(r "$2")" "$(echo "$2 / $prep_w" | bc -l)" \
		"$(r "$3")" "$(echo "$3 / $prep_c" | bc -l)" "$(echo "$4 / 1048576" | bc -l)"
}
line "avsl-prep (zstd 1)" "$prep_w" "$prep_c" "$prep_b"
line "PIL resize + PNG" "$png_w" "$png_c" "$png_b"
line "PIL resize + raw" "$raw_w" "$raw_c" "$raw_b"
echo "(x = how many times faster avsl-prep is than that row)"
echo
printf '%-22s %10s %12s %14s\n' "zstd level" "images/s" "shard bytes" "/ JPEG bytes"
for lv in 1 3 9; do
	read -r w c b < <(run_prep "$lv")
	printf '%-22s %10.1f %12d %14.2f\n' "avsl-prep --level $lv" "$(r "$w")" "$b" "$(echo "$b / $jpeg_bytes" | bc -l)"
done
printf '%-22s %10s %12d %14.2f\n' "PIL PNG (for scale)" "" "$png_b" "$(echo "$png_b / $jpeg_bytes" | bc -l)"
