build-cpu/obj/libcommon/resnet.o: libcommon/resnet.c libcommon/resnet.h \
 formats/fmt_error.h kernels/ops.h libcommon/params.h \
 formats/safetensors.h formats/fmt_error.h libcommon/arena.h \
 libcommon/rng.h libcommon/util.h
libcommon/resnet.h:
formats/fmt_error.h:
kernels/ops.h:
libcommon/params.h:
formats/safetensors.h:
formats/fmt_error.h:
libcommon/arena.h:
libcommon/rng.h:
libcommon/util.h:
