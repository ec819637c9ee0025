build-cpu/obj/kernels/cpu/pool.o: kernels/cpu/pool.c libcommon/backend.h \
 kernels/device_api.h kernels/avsl_ops.h kernels/cuda/cuda_ops.h \
 kernels/avsl_ops.h kernels/cpu/cpu_internal.h kernels/ops.h
libcommon/backend.h:
kernels/device_api.h:
kernels/avsl_ops.h:
kernels/cuda/cuda_ops.h:
kernels/avsl_ops.h:
kernels/cpu/cpu_internal.h:
kernels/ops.h:
