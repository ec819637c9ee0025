build-cpu/obj/tests/unit/test_safetensors.o: \
 tests/unit/test_safetensors.c tests/harness.h formats/json.h \
 formats/safetensors.h formats/fmt_error.h
tests/harness.h:
formats/json.h:
formats/safetensors.h:
formats/fmt_error.h:
