build-cpu/obj/tests/unit/test_avsl_dist.o: tests/unit/test_avsl_dist.c \
 kernels/avsl_ops.h tests/harness.h libcommon/rng.h
kernels/avsl_ops.h:
tests/harness.h:
libcommon/rng.h:
