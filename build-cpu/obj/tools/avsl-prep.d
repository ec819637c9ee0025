build-cpu/obj/tools/avsl-prep.o: tools/avsl-prep.c libcommon/cli.h \
 libcommon/datasets.h libcommon/prep.h libcommon/datasets.h \
 formats/shard.h formats/fmt_error.h libcommon/threadpool.h \
 libcommon/util.h
libcommon/cli.h:
libcommon/datasets.h:
libcommon/prep.h:
libcommon/datasets.h:
formats/shard.h:
formats/fmt_error.h:
libcommon/threadpool.h:
libcommon/util.h:
