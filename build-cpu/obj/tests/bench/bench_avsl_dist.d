build-cpu/obj/tests/bench/bench_avsl_dist.o: \
 tests/bench/bench_avsl_dist.c kernels/avsl_ops.h libcommon/rng.h \
 libcommon/util.h
kernels/avsl_ops.h:
libcommon/rng.h:
libcommon/util.h:
