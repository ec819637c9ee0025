build-cpu/obj/formats/emb.o: formats/emb.c formats/emb.h \
 formats/fmt_error.h formats/fmt_io.h
formats/emb.h:
formats/fmt_error.h:
formats/fmt_io.h:
