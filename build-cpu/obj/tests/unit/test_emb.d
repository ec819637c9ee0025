build-cpu/obj/tests/unit/test_emb.o: tests/unit/test_emb.c formats/emb.h \
 formats/fmt_error.h tests/harness.h
formats/emb.h:
formats/fmt_error.h:
tests/harness.h:
