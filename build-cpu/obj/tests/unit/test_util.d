build-cpu/obj/tests/unit/test_util.o: tests/unit/test_util.c \
 tests/harness.h libcommon/rng.h libcommon/threadpool.h libcommon/util.h
tests/harness.h:
libcommon/rng.h:
libcommon/threadpool.h:
libcommon/util.h:
