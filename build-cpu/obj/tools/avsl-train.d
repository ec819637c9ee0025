build-cpu/obj/tools/avsl-train.o: tools/avsl-train.c libcommon/trainer.h \
 libcommon/train_config.h libcommon/params.h libcommon/train_config.h \
 libcommon/util.h
libcommon/trainer.h:
libcommon/train_config.h:
libcommon/params.h:
libcommon/train_config.h:
libcommon/util.h:
