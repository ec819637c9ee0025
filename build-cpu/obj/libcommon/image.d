build-cpu/obj/libcommon/image.o: libcommon/image.c libcommon/image.h \
 libcommon/rng.h libcommon/util.h /usr/include/stb/stb_image.h \
 /usr/include/stb/stb_image_write.h
libcommon/image.h:
libcommon/rng.h:
libcommon/util.h:
/usr/include/stb/stb_image.h:
/usr/include/stb/stb_image_write.h:
