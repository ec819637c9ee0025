build-cpu/obj/formats/json.o: formats/json.c formats/json.h
formats/json.h:
