build-cpu/obj/libcommon/trainlog.o: libcommon/trainlog.c \
 libcommon/trainlog.h
libcommon/trainlog.h:
