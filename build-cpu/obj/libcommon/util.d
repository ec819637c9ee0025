build-cpu/obj/libcommon/util.o: libcommon/util.c libcommon/util.h
libcommon/util.h:
