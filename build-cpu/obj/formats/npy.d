build-cpu/obj/formats/npy.o: formats/npy.c formats/npy.h \
 formats/fmt_error.h formats/fmt_io.h
formats/npy.h:
formats/fmt_error.h:
formats/fmt_io.h:
