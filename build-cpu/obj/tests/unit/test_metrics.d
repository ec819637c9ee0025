build-cpu/obj/tests/unit/test_metrics.o: tests/unit/test_metrics.c \
 tests/harness.h libcommon/metrics.h formats/graph.h formats/fmt_error.h
tests/harness.h:
libcommon/metrics.h:
formats/graph.h:
formats/fmt_error.h:
