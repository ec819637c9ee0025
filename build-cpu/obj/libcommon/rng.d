build-cpu/obj/libcommon/rng.o: libcommon/rng.c libcommon/rng.h
libcommon/rng.h:
