build-cpu/obj/formats/graph.o: formats/graph.c formats/graph.h \
 formats/fmt_error.h formats/fmt_io.h
formats/graph.h:
formats/fmt_error.h:
formats/fmt_io.h:
