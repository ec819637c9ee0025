build-cpu/obj/tests/unit/test_cuda.o: tests/unit/test_cuda.c \
 libcommon/backend.h kernels/device_api.h kernels/avsl_ops.h \
 kernels/cuda/cuda_ops.h kernels/avsl_ops.h tests/harness.h \
 libcommon/rng.h libcommon/util.h
libcommon/backend.h:
kernels/device_api.h:
kernels/avsl_ops.h:
kernels/cuda/cuda_ops.h:
kernels/avsl_ops.h:
tests/harness.h:
libcommon/rng.h:
libcommon/util.h:
