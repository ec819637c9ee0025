build-cpu/obj/kernels/cpu/naive_conv.o: kernels/cpu/naive_conv.c \
 kernels/ops.h
kernels/ops.h:
