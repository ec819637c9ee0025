build-cpu/obj/libcommon/cli.o: libcommon/cli.c libcommon/cli.h \
 libcommon/util.h
libcommon/cli.h:
libcommon/util.h:
