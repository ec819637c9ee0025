build-cpu/obj/libcommon/metrics.o: libcommon/metrics.c \
 libcommon/metrics.h formats/graph.h formats/fmt_error.h libcommon/util.h
libcommon/metrics.h:
formats/graph.h:
formats/fmt_error.h:
libcommon/util.h:
