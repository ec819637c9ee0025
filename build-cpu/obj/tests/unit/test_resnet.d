build-cpu/obj/tests/unit/test_resnet.o: tests/unit/test_resnet.c \
 tests/harness.h libcommon/params.h libcommon/resnet.h \
 formats/fmt_error.h kernels/ops.h libcommon/params.h \
 formats/safetensors.h formats/fmt_error.h
tests/harness.h:
libcommon/params.h:
libcommon/resnet.h:
formats/fmt_error.h:
kernels/ops.h:
libcommon/params.h:
formats/safetensors.h:
formats/fmt_error.h:
