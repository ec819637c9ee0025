"""Golden .npy files for tests/unit/test_npy.c, written by np.save (run by hand from the repository root with
/usr/bin/python3). The C test builds the same arrays and checks that npy_write produces these bytes exactly."""
import numpy as np

# Must match the arrays in tests/unit/test_npy.c.
arrays = {
    "f32_2x3": (np.arange(6, dtype=np.float32).reshape(2, 3) - np.float32(2.5)) / np.float32(3),
    "i32_4": np.array([-1, 0, 7, 2147483647], dtype=np.int32),
    "i64_1x2x3x2": np.arange(12, dtype=np.int64).reshape(1, 2, 3, 2) * (1 << 33) - 5,
    "f32_scalar": np.array(1.25, dtype=np.float32),
    "f32_0x5": np.zeros((0, 5), dtype=np.float32),
    "f32_1234567x0": np.zeros((1234567, 0), dtype=np.float32),
}
for name, a in arrays.items():
    np.save(f"tests/golden/npy_{name}.npy", a)
