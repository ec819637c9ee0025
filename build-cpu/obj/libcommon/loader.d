build-cpu/obj/libcommon/loader.o: libcommon/loader.c libcommon/loader.h \
 formats/fmt_error.h libcommon/image.h libcommon/rng.h formats/shard.h \
 formats/fmt_error.h libcommon/threadpool.h libcommon/util.h
libcommon/loader.h:
formats/fmt_error.h:
libcommon/image.h:
libcommon/rng.h:
formats/shard.h:
formats/fmt_error.h:
libcommon/threadpool.h:
libcommon/util.h:
