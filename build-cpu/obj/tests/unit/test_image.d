build-cpu/obj/tests/unit/test_image.o: tests/unit/test_image.c \
 tests/harness.h libcommon/image.h libcommon/rng.h libcommon/rng.h \
 libcommon/util.h
tests/harness.h:
libcommon/image.h:
libcommon/rng.h:
libcommon/rng.h:
libcommon/util.h:
