build-cpu/obj/libcommon/datasets.o: libcommon/datasets.c \
 libcommon/datasets.h libcommon/cli.h libcommon/util.h
libcommon/datasets.h:
libcommon/cli.h:
libcommon/util.h:
