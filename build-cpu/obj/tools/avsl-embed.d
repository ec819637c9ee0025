build-cpu/obj/tools/avsl-embed.o: tools/avsl-embed.c \
 libcommon/checkpoint.h libcommon/model.h libcommon/avsl_head.h \
 kernels/avsl_ops.h libcommon/params.h formats/safetensors.h \
 formats/fmt_error.h libcommon/baseline_head.h libcommon/resnet.h \
 formats/fmt_error.h kernels/ops.h libcommon/train_config.h \
 libcommon/optim.h libcommon/cli.h formats/emb.h libcommon/loader.h \
 libcommon/image.h libcommon/rng.h libcommon/model.h formats/npy.h \
 libcommon/progress.h libcommon/util.h
libcommon/checkpoint.h:
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
libcommon/optim.h:
libcommon/cli.h:
formats/emb.h:
libcommon/loader.h:
libcommon/image.h:
libcommon/rng.h:
libcommon/model.h:
formats/npy.h:
libcommon/progress.h:
libcommon/util.h:
