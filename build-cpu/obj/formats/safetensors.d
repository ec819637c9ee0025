build-cpu/obj/formats/safetensors.o: formats/safetensors.c \
 formats/safetensors.h formats/fmt_error.h formats/json.h
formats/safetensors.h:
formats/fmt_error.h:
formats/json.h:
