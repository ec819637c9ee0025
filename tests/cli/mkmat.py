#!/usr/bin/python3
"""mkmat.py: writes small MATLAB Level 5 MAT-files for the Cars196 tests, byte by byte from the published format
("MAT-File Format", MathWorks: 128-byte header, 8-byte element tags, 8-byte padding, small data elements, miMATRIX
sub-elements, miCOMPRESSED = a zlib stream holding one element). Python standard library only (no scipy), so it is
independent of the C reader it tests.

    mkmat.py OUT.mat [--compressed] [--big-endian] [--path-field NAME] [--names N] < ANNOTATIONS
    mkmat.py OUT.mat --names N --names-only [--compressed]

--truncate-zlib K drops the last K bytes of every compressed stream (the element's byte count says so: a file whose
elements are whole but whose zlib streams end early).

ANNOTATIONS: one line per image, "PATH CLASS TEST". Writes the variable "annotations" (a 1 x n struct array with the
fields PATH-FIELD (default relative_im_path), bbox_x1, bbox_y1, bbox_x2, bbox_y2, class, test, as in cars_annos.mat)
and, with --names N, "class_names" (a 1 x N cell of strings "Make Model i"). The numbers use several storage types
on purpose: class as a uint8 array, test as a double array stored as miUINT8 (what MATLAB does for small integers),
bbox as doubles stored as miUINT16 or miDOUBLE; names shorter than 5 bytes use small data elements."""
import struct
import sys
import zlib

MI_INT8, MI_UINT8, MI_UINT16, MI_INT32, MI_UINT32, MI_DOUBLE, MI_MATRIX, MI_COMPRESSED = 1, 2, 4, 5, 6, 9, 14, 15
MX_CELL, MX_STRUCT, MX_CHAR, MX_DOUBLE, MX_UINT8 = 1, 2, 4, 6, 9

E = "<"  # byte order of every number written


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def element(mtype, data, small_ok=True):
    if small_ok and 0 < len(data) <= 4:  # small data element: (nbytes << 16 | type) then 4 bytes of data
        return struct.pack(E + "I", len(data) << 16 | mtype) + data + b"\0" * (4 - len(data))
    return struct.pack(E + "II", mtype, len(data)) + pad8(data)


def matrix(name, mx_class, dims, body):
    flags = element(MI_UINT32, struct.pack(E + "II", mx_class, 0))
    sub = flags + element(MI_INT32, struct.pack(E + "%di" % len(dims), *dims), small_ok=False)
    sub += element(MI_INT8, name.encode())
    sub += b"".join(body)
    return struct.pack(E + "II", MI_MATRIX, len(sub)) + sub


def string(name, s):
    return matrix(name, MX_CHAR, [1, len(s)], [element(MI_UINT16, struct.pack(E + "%dH" % len(s), *map(ord, s)))])


def number(value, mx_class, mi_type):
    fmt = {MI_UINT8: "B", MI_UINT16: "H", MI_DOUBLE: "d"}[mi_type]
    return matrix("", mx_class, [1, 1], [element(mi_type, struct.pack(E + fmt, value))])


def struct_array(name, fields, rows):
    """rows: list of lists of sub-matrix bytes (one per field)."""
    flen = 32
    names = b"".join(f.encode().ljust(flen, b"\0") for f in fields)
    body = [element(MI_INT32, struct.pack(E + "i", flen)), element(MI_INT8, names)]
    for r in rows:
        body += r
    return matrix(name, MX_STRUCT, [1, len(rows)], body)


def cell(name, items):
    return matrix(name, MX_CELL, [1, len(items)], items)


def main():
    global E
    args = sys.argv[1:]
    out = args.pop(0)
    compressed = "--compressed" in args
    if "--big-endian" in args:
        E = ">"
    path_field = args[args.index("--path-field") + 1] if "--path-field" in args else "relative_im_path"
    n_names = int(args[args.index("--names") + 1]) if "--names" in args else 0
    cut = int(args[args.index("--truncate-zlib") + 1]) if "--truncate-zlib" in args else 0
    variables = []
    if "--names-only" not in args:
        rows = []
        for i, line in enumerate(sys.stdin.read().split("\n")):
            if not line.strip():
                continue
            path, cls, test = line.split()
            rows.append([string("", path),
                         number(10 + i, MX_DOUBLE, MI_UINT16), number(20 + i, MX_DOUBLE, MI_DOUBLE),
                         number(300 + i, MX_DOUBLE, MI_UINT16), number(400.5, MX_DOUBLE, MI_DOUBLE),
                         number(int(cls), MX_UINT8, MI_UINT8), number(int(test), MX_DOUBLE, MI_UINT8)])
        fields = [path_field, "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
        variables.append(struct_array("annotations", fields, rows))
    if n_names:
        variables.append(cell("class_names", [string("", "Make Model %d" % (i + 1)) for i in range(n_names)]))
    text = b"MATLAB 5.0 MAT-file, Platform: test, Created by: tests/cli/mkmat.py".ljust(116, b" ")
    data = text + b"\0" * 8 + struct.pack(E + "H", 0x0100) + (b"IM" if E == "<" else b"MI")
    for v in variables:
        if compressed:
            z = zlib.compress(v)
            z = z[:len(z) - cut]
            data += struct.pack(E + "II", MI_COMPRESSED, len(z)) + z  # compressed elements are not padded
        else:
            data += v
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
