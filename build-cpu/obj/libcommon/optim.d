build-cpu/obj/libcommon/optim.o: libcommon/optim.c libcommon/optim.h \
 libcommon/params.h libcommon/threadpool.h libcommon/util.h
libcommon/optim.h:
libcommon/params.h:
libcommon/threadpool.h:
libcommon/util.h:
