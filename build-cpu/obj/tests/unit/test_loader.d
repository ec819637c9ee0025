build-cpu/obj/tests/unit/test_loader.o: tests/unit/test_loader.c \
 tests/harness.h libcommon/image.h libcommon/rng.h libcommon/loader.h \
 formats/fmt_error.h libcommon/image.h formats/shard.h \
 formats/fmt_error.h libcommon/util.h
tests/harness.h:
libcommon/image.h:
libcommon/rng.h:
libcommon/loader.h:
formats/fmt_error.h:
libcommon/image.h:
formats/shard.h:
formats/fmt_error.h:
libcommon/util.h:
