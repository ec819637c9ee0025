build-cpu/obj/tests/unit/test_ops.o: tests/unit/test_ops.c \
 tests/harness.h kernels/ops.h libcommon/rng.h
tests/harness.h:
kernels/ops.h:
libcommon/rng.h:
