build-cpu/obj/libcommon/baseline_head.o: libcommon/baseline_head.c \
 libcommon/baseline_head.h libcommon/params.h kernels/avsl_ops.h \
 libcommon/rng.h libcommon/util.h
libcommon/baseline_head.h:
libcommon/params.h:
kernels/avsl_ops.h:
libcommon/rng.h:
libcommon/util.h:
