build-cpu/obj/kernels/ops.o: kernels/ops.c kernels/backend.h \
 kernels/ops.h
kernels/backend.h:
kernels/ops.h:
