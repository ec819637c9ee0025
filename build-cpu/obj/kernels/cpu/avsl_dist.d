build-cpu/obj/kernels/cpu/avsl_dist.o: kernels/cpu/avsl_dist.c \
 kernels/avsl_ops.h kernels/cpu/avsl_csc.h
kernels/avsl_ops.h:
kernels/cpu/avsl_csc.h:
