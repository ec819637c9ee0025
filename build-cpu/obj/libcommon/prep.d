build-cpu/obj/libcommon/prep.o: libcommon/prep.c libcommon/prep.h \
 libcommon/datasets.h libcommon/cli.h libcommon/image.h libcommon/rng.h \
 libcommon/progress.h formats/shard.h formats/fmt_error.h \
 libcommon/threadpool.h libcommon/util.h
libcommon/prep.h:
libcommon/datasets.h:
libcommon/cli.h:
libcommon/image.h:
libcommon/rng.h:
libcommon/progress.h:
formats/shard.h:
formats/fmt_error.h:
libcommon/threadpool.h:
libcommon/util.h:
