build-cpu/obj/kernels/cpu/avsl_embed.o: kernels/cpu/avsl_embed.c \
 kernels/avsl_ops.h
kernels/avsl_ops.h:
