build-cpu/obj/tests/unit/test_shard.o: tests/unit/test_shard.c \
 tests/harness.h formats/shard.h formats/fmt_error.h
tests/harness.h:
formats/shard.h:
formats/fmt_error.h:
