build-cpu/obj/libcommon/avsl_head.o: libcommon/avsl_head.c \
 libcommon/avsl_head.h kernels/avsl_ops.h libcommon/params.h \
 formats/safetensors.h formats/fmt_error.h libcommon/rng.h \
 libcommon/util.h
libcommon/avsl_head.h:
kernels/avsl_ops.h:
libcommon/params.h:
formats/safetensors.h:
formats/fmt_error.h:
libcommon/rng.h:
libcommon/util.h:
