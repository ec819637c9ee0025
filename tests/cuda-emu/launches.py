#!/usr/bin/env python3
"""launches.py IN.cu OUT.cpp: rewrite CUDA launches for the host emulator (tests/cuda-emu/include/cuda_runtime.h):
k<<<g, b, s, st>>>(args) becomes (emu_cfg(g, b, s, st) | &k)(args). The rest of the file is unchanged."""
import re
import sys

src = open(sys.argv[1]).read()
pat = re.compile(r'(\w+(?:<[^<>;()]*>)?)\s*<<<(.*?)>>>\(', re.S)
out = pat.sub(lambda m: '(emu_cfg(%s) | &%s)(' % (m.group(2), m.group(1)), src)
open(sys.argv[2], 'w').write('#line 1 "%s"\n' % sys.argv[1] + out)
