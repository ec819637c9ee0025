#!/usr/bin/python3
"""st_meta.py IN OUT KEY=VALUE...: copy the safetensors file IN to OUT with its __metadata__ changed: each
KEY=VALUE sets a key, KEY= (empty value) removes it. The tensors and their bytes are kept as they are; the header
is written as the avsl writer writes it (compact JSON, space padding to a multiple of 8). For tests that need a
checkpoint with given (or contradictory, or missing) metadata."""
import json
import struct
import sys

src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    head = json.loads(f.read(n))
    data = f.read()
meta = head.pop("__metadata__", {})
for kv in sys.argv[3:]:
    key, _, value = kv.partition("=")
    if value:
        meta[key] = value
    else:
        meta.pop(key, None)
out = {"__metadata__": dict(sorted(meta.items()))} if meta else {}
out.update(sorted(head.items()))
text = json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()
text += b" " * (-len(text) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
