build-cpu/obj/tools/avsl-eval.o: tools/avsl-eval.c libcommon/cli.h \
 formats/emb.h formats/fmt_error.h formats/graph.h libcommon/knn.h \
 kernels/avsl_ops.h libcommon/metrics.h libcommon/threadpool.h \
 libcommon/util.h
libcommon/cli.h:
formats/emb.h:
formats/fmt_error.h:
formats/graph.h:
libcommon/knn.h:
kernels/avsl_ops.h:
libcommon/metrics.h:
libcommon/threadpool.h:
libcommon/util.h:
