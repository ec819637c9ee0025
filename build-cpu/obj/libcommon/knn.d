build-cpu/obj/libcommon/knn.o: libcommon/knn.c libcommon/knn.h \
 kernels/avsl_ops.h formats/emb.h formats/fmt_error.h formats/graph.h \
 libcommon/dot_tile.h formats/npy.h libcommon/progress.h libcommon/topk.h \
 libcommon/util.h
libcommon/knn.h:
kernels/avsl_ops.h:
formats/emb.h:
formats/fmt_error.h:
formats/graph.h:
libcommon/dot_tile.h:
formats/npy.h:
libcommon/progress.h:
libcommon/topk.h:
libcommon/util.h:
