build-cpu/obj/tests/unit/test_avsl_ops.o: tests/unit/test_avsl_ops.c \
 kernels/avsl_ops.h tests/harness.h libcommon/rng.h
kernels/avsl_ops.h:
tests/harness.h:
libcommon/rng.h:
