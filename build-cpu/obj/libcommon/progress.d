build-cpu/obj/libcommon/progress.o: libcommon/progress.c \
 libcommon/progress.h libcommon/cli.h libcommon/util.h
libcommon/progress.h:
libcommon/cli.h:
libcommon/util.h:
