build-cpu/obj/libcommon/topk.o: libcommon/topk.c libcommon/topk.h
libcommon/topk.h:
