build-cpu/obj/libcommon/threadpool.o: libcommon/threadpool.c \
 libcommon/threadpool.h libcommon/util.h
libcommon/threadpool.h:
libcommon/util.h:
