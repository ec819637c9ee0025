build-cpu/obj/formats/safetensors_write.o: formats/safetensors_write.c \
 formats/safetensors.h formats/fmt_error.h formats/json.h
formats/safetensors.h:
formats/fmt_error.h:
formats/json.h:
