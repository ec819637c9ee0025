build-cpu/obj/tests/unit/test_knn.o: tests/unit/test_knn.c \
 libcommon/dot_tile.h tests/harness.h libcommon/knn.h kernels/avsl_ops.h \
 formats/emb.h formats/fmt_error.h formats/graph.h libcommon/rng.h \
 libcommon/topk.h libcommon/util.h
libcommon/dot_tile.h:
tests/harness.h:
libcommon/knn.h:
kernels/avsl_ops.h:
formats/emb.h:
formats/fmt_error.h:
formats/graph.h:
libcommon/rng.h:
libcommon/topk.h:
libcommon/util.h:
