build-cpu/obj/kernels/cpu/avsl_collector.o: kernels/cpu/avsl_collector.c \
 kernels/cpu/avsl_csc.h kernels/avsl_ops.h
kernels/cpu/avsl_csc.h:
kernels/avsl_ops.h:
