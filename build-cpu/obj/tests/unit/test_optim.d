build-cpu/obj/tests/unit/test_optim.o: tests/unit/test_optim.c \
 tests/harness.h libcommon/optim.h libcommon/params.h libcommon/params.h \
 libcommon/util.h
tests/harness.h:
libcommon/optim.h:
libcommon/params.h:
libcommon/params.h:
libcommon/util.h:
