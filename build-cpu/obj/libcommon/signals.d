build-cpu/obj/libcommon/signals.o: libcommon/signals.c \
 libcommon/signals.h
libcommon/signals.h:
