build-cpu/obj/libcommon/dot_tile.o: libcommon/dot_tile.c \
 libcommon/dot_tile.h
libcommon/dot_tile.h:
