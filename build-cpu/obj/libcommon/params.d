build-cpu/obj/libcommon/params.o: libcommon/params.c libcommon/params.h \
 libcommon/util.h
libcommon/params.h:
libcommon/util.h:
