build-cpu/obj/tests/unit/test_trainlog.o: tests/unit/test_trainlog.c \
 tests/harness.h libcommon/signals.h libcommon/trainlog.h
tests/harness.h:
libcommon/signals.h:
libcommon/trainlog.h:
