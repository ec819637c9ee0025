build-cpu/obj/libcommon/arena.o: libcommon/arena.c libcommon/arena.h \
 libcommon/util.h
libcommon/arena.h:
libcommon/util.h:
