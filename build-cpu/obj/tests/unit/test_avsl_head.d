build-cpu/obj/tests/unit/test_avsl_head.o: tests/unit/test_avsl_head.c \
 libcommon/avsl_head.h kernels/avsl_ops.h libcommon/params.h \
 formats/safetensors.h formats/fmt_error.h libcommon/baseline_head.h \
 tests/harness.h
libcommon/avsl_head.h:
kernels/avsl_ops.h:
libcommon/params.h:
formats/safetensors.h:
formats/fmt_error.h:
libcommon/baseline_head.h:
tests/harness.h:
