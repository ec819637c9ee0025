build-cpu/obj/tests/unit/test_train_config.o: \
 tests/unit/test_train_config.c tests/harness.h libcommon/optim.h \
 libcommon/params.h libcommon/train_config.h libcommon/util.h
tests/harness.h:
libcommon/optim.h:
libcommon/params.h:
libcommon/train_config.h:
libcommon/util.h:
