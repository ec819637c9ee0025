build-cpu/obj/kernels/shapes.o: kernels/shapes.c kernels/ops.h
kernels/ops.h:
