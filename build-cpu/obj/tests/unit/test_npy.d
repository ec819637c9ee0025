build-cpu/obj/tests/unit/test_npy.o: tests/unit/test_npy.c \
 tests/harness.h formats/npy.h formats/fmt_error.h
tests/harness.h:
formats/npy.h:
formats/fmt_error.h:
