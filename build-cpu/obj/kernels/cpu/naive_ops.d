build-cpu/obj/kernels/cpu/naive_ops.o: kernels/cpu/naive_ops.c \
 kernels/ops.h
kernels/ops.h:
