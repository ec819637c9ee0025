build-cpu/obj/tests/unit/test_graph.o: tests/unit/test_graph.c \
 formats/graph.h formats/fmt_error.h tests/harness.h
formats/graph.h:
formats/fmt_error.h:
tests/harness.h:
