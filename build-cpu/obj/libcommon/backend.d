build-cpu/obj/libcommon/backend.o: libcommon/backend.c \
 libcommon/backend.h kernels/device_api.h kernels/avsl_ops.h \
 kernels/cuda/cuda_ops.h kernels/avsl_ops.h libcommon/util.h
libcommon/backend.h:
kernels/device_api.h:
kernels/avsl_ops.h:
kernels/cuda/cuda_ops.h:
kernels/avsl_ops.h:
libcommon/util.h:
