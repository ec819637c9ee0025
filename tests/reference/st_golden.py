"""Golden files for tests/unit/test_safetensors.c (run by hand with /usr/bin/python3 from the repository root).

  /usr/bin/python3 tests/reference/st_golden.py write   writes tests/golden/st_python.safetensors with st_write.save
  /usr/bin/python3 tests/reference/st_golden.py check   loads tests/golden/st_c.safetensors (written by our C writer,
                                                         see test_safetensors.c) with st_write.load, checks every value

The C test reads st_python.safetensors and compares with the same values, and checks that our writer reproduces
st_c.safetensors byte for byte, so CI needs no Python.
"""
import sys

import numpy as np

sys.path.insert(0, "tests/reference")
import st_write  # noqa: E402


def python_tensors():
    return {
        "conv1.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) * np.float32(0.25) - np.float32(3),
        "bn1.num_batches_tracked": np.array(1234567, dtype=np.int64),
        "f64": np.array([1.5, -2.25, 1e-3], dtype=np.float64),
        "i32": np.array([[-7, 0, 2147483647]], dtype=np.int32),
        "u8": np.array([0, 1, 255], dtype=np.uint8),
        "f16": np.array([1.0, -0.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08, 0.0], dtype=np.float16),
        "caf\u00e9.\U0001F600": np.array([42.0], dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def python_meta():
    return {"avsl.format_version": "1.0", "note": 'quote " backslash \\ newline \n tab \t caf\u00e9'}


def c_expected():
    # Must match c_golden_tensors() in tests/unit/test_safetensors.c.
    a = (np.arange(12, dtype=np.float32) - np.float32(5.5)) / np.float32(4)
    return {
        "zeta.weight": a.reshape(3, 4),
        "alpha": np.array([-1, 0, 1, 1 << 40], dtype=np.int64),
        "mid.scalar": np.array(3.25, dtype=np.float32),
    }, {"avsl.format_version": "1.0", "avsl.setting": "avsl_proxyanchor", "text": 'a "q" \\ \n'}


def main():
    if sys.argv[1:] == ["write"]:
        st_write.save("tests/golden/st_python.safetensors", python_tensors(), python_meta())
    elif sys.argv[1:] == ["check"]:
        got, meta = st_write.load("tests/golden/st_c.safetensors")
        want, want_meta = c_expected()
        assert sorted(got) == sorted(want), (sorted(got), sorted(want))
        for k in want:
            assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
            assert np.array_equal(got[k], want[k]), k
        assert meta == want_meta, meta
        print("st_c.safetensors: OK")
    else:
        sys.exit(__doc__)


main()
