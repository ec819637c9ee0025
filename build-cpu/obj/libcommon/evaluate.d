build-cpu/obj/libcommon/evaluate.o: libcommon/evaluate.c \
 libcommon/evaluate.h formats/emb.h formats/fmt_error.h \
 libcommon/loader.h formats/fmt_error.h libcommon/image.h libcommon/rng.h \
 libcommon/metrics.h formats/graph.h libcommon/model.h \
 libcommon/avsl_head.h kernels/avsl_ops.h libcommon/params.h \
 formats/safetensors.h libcommon/baseline_head.h libcommon/resnet.h \
 kernels/ops.h libcommon/train_config.h libcommon/knn.h \
 libcommon/progress.h libcommon/util.h
libcommon/evaluate.h:
formats/emb.h:
formats/fmt_error.h:
libcommon/loader.h:
formats/fmt_error.h:
libcommon/image.h:
libcommon/rng.h:
libcommon/metrics.h:
formats/graph.h:
libcommon/model.h:
libcommon/avsl_head.h:
kernels/avsl_ops.h:
libcommon/params.h:
formats/safetensors.h:
libcommon/baseline_head.h:
libcommon/resnet.h:
kernels/ops.h:
libcommon/train_config.h:
libcommon/knn.h:
libcommon/progress.h:
libcommon/util.h:
