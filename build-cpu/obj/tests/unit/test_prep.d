build-cpu/obj/tests/unit/test_prep.o: tests/unit/test_prep.c \
 libcommon/cli.h libcommon/datasets.h tests/harness.h libcommon/image.h \
 libcommon/rng.h libcommon/prep.h libcommon/datasets.h formats/shard.h \
 formats/fmt_error.h libcommon/util.h
libcommon/cli.h:
libcommon/datasets.h:
tests/harness.h:
libcommon/image.h:
libcommon/rng.h:
libcommon/prep.h:
libcommon/datasets.h:
formats/shard.h:
formats/fmt_error.h:
libcommon/util.h:
