build-cpu/obj/libcommon/model.o: libcommon/model.c libcommon/model.h \
 libcommon/avsl_head.h kernels/avsl_ops.h libcommon/params.h \
 formats/safetensors.h formats/fmt_error.h libcommon/baseline_head.h \
 libcommon/resnet.h formats/fmt_error.h kernels/ops.h \
 libcommon/train_config.h libcommon/util.h
libcommon/model.h:
libcommon/avsl_head.h:
kernels/avsl_ops.h:
libcommon/params.h:
formats/safetensors.h:
formats/fmt_error.h:
libcommon/baseline_head.h:
libcommon/resnet.h:
formats/fmt_error.h:
kernels/ops.h:
libcommon/train_config.h:
libcommon/util.h:
