build-cpu/obj/tools/avsl-graph.o: tools/avsl-graph.c libcommon/cli.h \
 formats/emb.h formats/fmt_error.h formats/graph.h libcommon/knn.h \
 kernels/avsl_ops.h libcommon/threadpool.h libcommon/util.h \
 libcommon/avsl_head.h libcommon/params.h formats/safetensors.h
libcommon/cli.h:
formats/emb.h:
formats/fmt_error.h:
formats/graph.h:
libcommon/knn.h:
kernels/avsl_ops.h:
libcommon/threadpool.h:
libcommon/util.h:
libcommon/avsl_head.h:
libcommon/params.h:
formats/safetensors.h:
