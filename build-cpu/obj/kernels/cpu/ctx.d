build-cpu/obj/kernels/cpu/ctx.o: kernels/cpu/ctx.c libcommon/backend.h \
 kernels/device_api.h kernels/avsl_ops.h kernels/cuda/cuda_ops.h \
 kernels/avsl_ops.h kernels/cpu/cpu_internal.h kernels/ops.h
libcommon/backend.h:
kernels/device_api.h:
kernels/avsl_ops.h:
kernels/cuda/cuda_ops.h:
kernels/avsl_ops.h:
kernels/cpu/cpu_internal.h:
kernels/ops.h:
