#!/usr/bin/python3
"""Goldens for tests/unit/test_image.c: PIL 9.4 bilinear resizes of generated images.

Run by hand (/usr/bin/python3 tests/reference/image_golden.py) from the repository root; writes
tests/golden/image/*.pnm (binary PGM/PPM) and cases.txt, one line per case:
    INPUT OUTPUT TOP LEFT BH BW OH OW
meaning OUTPUT = Image.open(INPUT).crop((LEFT, TOP, LEFT+BW, TOP+BH)).resize((OW, OH), Image.BILINEAR),
which is torchvision's resize / resized_crop on a PIL image.
"""
import os
import numpy as np
from PIL import Image

OUT = "tests/golden/image"


def make(seed, h, w, c):
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 127.5 + 100 * np.sin(xx / (3 + seed)) * np.cos(yy / (4 + seed))
    chans = []
    for k in range(c):
        noise = rs.randint(-60, 61, size=(h, w))
        v = base + noise + 30 * k
        chans.append(v)
    a = np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)
    # hard edges and extremes: a black and a white block
    a[h // 4: h // 2, w // 5: w // 3] = 0
    a[h // 2: 3 * h // 4, w // 2: 2 * w // 3] = 255
    return Image.fromarray(a[:, :, 0] if c == 1 else a, "L" if c == 1 else "RGB")


def saved(im, name):
    im.save(os.path.join(OUT, name))
    im.info["golden_name"] = name
    return im


def shorter(im, s):
    w, h = im.size
    if h <= w:
        return s, int(s * w / h)
    return int(s * h / w), s


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []

    def add(name, im, box, size):
        top, left, bh, bw = box
        oh, ow = size
        src = im.info["golden_name"]
        dst = f"{name}_out.pnm"
        out = im.crop((left, top, left + bw, top + bh)).resize((ow, oh), Image.BILINEAR)
        out.save(os.path.join(OUT, dst))
        cases.append(f"{src} {dst} {top} {left} {bh} {bw} {oh} {ow}")

    g = saved(make(1, 37, 53, 1), "gray_37x53.pnm")
    add("gray_down", g, (0, 0, 37, 53), shorter(g, 16))
    r = saved(make(2, 90, 120, 3), "rgb_90x120.pnm")
    add("rgb_aniso", r, (0, 0, 90, 120), (31, 47))
    add("rgb_crop", r, (7, 11, 50, 70), (24, 24))
    add("rgb_crop_up", r, (30, 40, 13, 9), (40, 29))
    s = saved(make(3, 15, 20, 3), "rgb_15x20.pnm")
    add("rgb_up", s, (0, 0, 15, 20), shorter(s, 40))
    b = saved(make(4, 120, 170, 3), "rgb_120x170.pnm")
    add("rgb_big_down", b, (0, 0, 120, 170), shorter(b, 23))
    t = saved(make(5, 151, 47, 3), "rgb_151x47.pnm")
    add("rgb_tall", t, (0, 0, 151, 47), shorter(t, 33))
    add("rgb_rows_only", t, (0, 0, 151, 47), (60, 47))
    add("rgb_cols_only", t, (0, 0, 151, 47), (151, 20))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(cases) + "\n")


if __name__ == "__main__":
    main()
