build-cpu/obj/kernels/cuda_backend.o: kernels/cuda_backend.c \
 kernels/device_api.h kernels/avsl_ops.h kernels/cuda/cuda_ops.h \
 kernels/avsl_ops.h
kernels/device_api.h:
kernels/avsl_ops.h:
kernels/cuda/cuda_ops.h:
kernels/avsl_ops.h:
