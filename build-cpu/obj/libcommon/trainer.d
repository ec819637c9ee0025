build-cpu/obj/libcommon/trainer.o: libcommon/trainer.c \
 libcommon/trainer.h libcommon/train_config.h libcommon/params.h \
 libcommon/checkpoint.h libcommon/model.h libcommon/avsl_head.h \
 kernels/avsl_ops.h formats/safetensors.h formats/fmt_error.h \
 libcommon/baseline_head.h libcommon/resnet.h formats/fmt_error.h \
 kernels/ops.h libcommon/optim.h libcommon/cli.h libcommon/evaluate.h \
 formats/emb.h libcommon/loader.h libcommon/image.h libcommon/rng.h \
 libcommon/metrics.h formats/graph.h libcommon/signals.h \
 libcommon/threadpool.h libcommon/trainlog.h libcommon/util.h
libcommon/trainer.h:
libcommon/train_config.h:
libcommon/params.h:
libcommon/checkpoint.h:
libcommon/model.h:
libcommon/avsl_head.h:
kernels/avsl_ops.h:
formats/safetensors.h:
formats/fmt_error.h:
libcommon/baseline_head.h:
libcommon/resnet.h:
formats/fmt_error.h:
kernels/ops.h:
libcommon/optim.h:
libcommon/cli.h:
libcommon/evaluate.h:
formats/emb.h:
libcommon/loader.h:
libcommon/image.h:
libcommon/rng.h:
libcommon/metrics.h:
formats/graph.h:
libcommon/signals.h:
libcommon/threadpool.h:
libcommon/trainlog.h:
libcommon/util.h:
