build-cpu/obj/libcommon/train_config.o: libcommon/train_config.c \
 libcommon/train_config.h libcommon/params.h libcommon/cli.h \
 libcommon/optim.h libcommon/util.h
libcommon/train_config.h:
libcommon/params.h:
libcommon/cli.h:
libcommon/optim.h:
libcommon/util.h:
