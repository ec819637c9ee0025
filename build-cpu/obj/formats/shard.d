build-cpu/obj/formats/shard.o: formats/shard.c formats/shard.h \
 formats/fmt_error.h
formats/shard.h:
formats/fmt_error.h:
