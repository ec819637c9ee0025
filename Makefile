# avsl: GNU make build.
#   make            library, tools, tests (CUDA sources too when nvcc is found)
#   make CUDA=0     CPU only
#   make MPI=0      without the distributed path (mpirun/srun; built when mpicc is found)
#   make check      install what is missing (deps), build, run every test; ends with "N passed, N failed"
#   make check-cuda the op and golden tests on the GPU (needs a GPU host)
#   make bench      benchmarks against PyTorch / faiss / PIL on this machine
#   make demo       the Fashion-MNIST demo (pipelines/fashion-mnist.mk)
#   make lint       mandoc -Tlint on every man page
#   make deps       install the Debian packages the build, tests and demo need (as root)
#   make install    PREFIX=/usr/local DESTDIR=
.SUFFIXES:
.DELETE_ON_ERROR:
# Objects of tools and tests are intermediate files of pattern chains: keep them (no rebuilds, no "rm" noise).
.SECONDARY:
SHELL := /bin/bash

CC       ?= cc
CUDA     ?= auto
MPI      ?= auto
MPICC    ?= mpicc
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
CUDA_HOME ?= /usr/local/cuda
NPROC    ?= $(shell nproc 2>/dev/null || echo 2)
NVCC     ?= $(CUDA_HOME)/bin/nvcc
ARCHFLAGS ?= -march=native
OPT      ?= -O2
CFLAGS   ?= $(OPT) $(ARCHFLAGS) -g
WARN     := -Wall -Wextra -Wshadow -Wno-sign-compare -Wno-missing-field-initializers
CPPFLAGS += -I. -Ilibcommon -Ikernels -Iformats -Itests -I/usr/include/stb -D_FILE_OFFSET_BITS=64
ALL_CFLAGS = -std=gnu11 -pthread -fopenmp $(WARN) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS   := -lzstd -ldnnl -lopenblas -lz -lm -lpthread -fopenmp

# ---- probes ---------------------------------------------------------------------------------------------------
probe_lib = $(shell printf '#include <%s>\nint main(void){return 0;}\n' '$(1)' | \
	$(CC) $(CPPFLAGS) -x c - -o /dev/null $(2) 2>/dev/null && echo yes || echo no)
HAVE_ZSTD    := $(call probe_lib,zstd.h,-lzstd)
HAVE_DNNL    := $(call probe_lib,oneapi/dnnl/dnnl.h,-ldnnl)
HAVE_OPENBLAS:= $(call probe_lib,cblas.h,-lopenblas)
HAVE_STB     := $(shell test -f /usr/include/stb/stb_image.h && echo yes || echo no)
HAVE_ZLIB    := $(call probe_lib,zlib.h,-lz)
# optional: libjpeg(-turbo) decodes JPEGs as PIL does (same library); without it stb_image decodes them
HAVE_JPEG    := $(shell printf '#include <stdio.h>\n#include <jpeglib.h>\nint main(void){return 0;}\n' | \
	$(CC) -x c - -o /dev/null -ljpeg 2>/dev/null && echo yes || echo no)
ifeq ($(HAVE_JPEG),yes)
CPPFLAGS += -DAVSL_HAVE_JPEG=1
LDLIBS   += -ljpeg
endif

ifeq ($(CUDA),0)
HAVE_CUDA := no
else
HAVE_CUDA := $(shell test -x $(NVCC) && test -f $(CUDA_HOME)/include/cudnn.h && \
	test -f $(CUDA_HOME)/include/cublas_v2.h && echo yes || echo no)
ifeq ($(CUDA),1)
ifneq ($(HAVE_CUDA),yes)
$(error CUDA=1 but nvcc, cuDNN or cuBLAS was not found under $(CUDA_HOME))
endif
endif
endif

CUDA_ARCHS ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86 \
              -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCCFLAGS ?= -O3 -std=c++17 $(CUDA_ARCHS) -Xcompiler -Wall,-Wextra,-fPIC -Ikernels -Ilibcommon -Iformats
ifeq ($(HAVE_CUDA),yes)
CPPFLAGS += -DAVSL_HAVE_CUDA=1 -DAVSL_HAVE_CUDA_TRUNK=1
LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublasLt -lcublas -lcudart -lstdc++
endif

# Data parallel (libcommon/dist.c): MPI from mpicc's flags; NCCL (libcommon/dist_nccl.c) when CUDA and MPI are both
# built and the toolkit ships nccl.h and libnccl.
ifeq ($(MPI),0)
HAVE_MPI := no
else
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell $(MPICC) --showme:link 2>/dev/null)
HAVE_MPI := $(shell printf '\043include <mpi.h>\nint main(void){return MPI_Init(0, 0);}\n' | \
	$(CC) $(MPI_CFLAGS) -x c - -o /dev/null $(MPI_LIBS) 2>/dev/null && echo yes || echo no)
ifeq ($(MPI),1)
ifneq ($(HAVE_MPI),yes)
$(error MPI=1 but $(MPICC) or mpi.h was not found; run 'make deps' (libopenmpi-dev))
endif
endif
endif
ifeq ($(HAVE_MPI),yes)
CPPFLAGS += -DAVSL_HAVE_MPI=1 $(MPI_CFLAGS)
LDLIBS   += $(MPI_LIBS)
endif
HAVE_NCCL := no
ifeq ($(HAVE_CUDA)$(HAVE_MPI),yesyes)
HAVE_NCCL := $(shell test -f $(CUDA_HOME)/include/nccl.h && ls $(CUDA_HOME)/lib64/libnccl.so* >/dev/null 2>&1 && \
	echo yes || echo no)
endif
ifeq ($(HAVE_NCCL),yes)
CPPFLAGS += -DAVSL_HAVE_NCCL=1 -isystem $(CUDA_HOME)/include
LDLIBS   += -lnccl
endif

# ---- sources --------------------------------------------------------------------------------------------------
LIB_SRC  := $(sort $(wildcard libcommon/*.c formats/*.c kernels/*.c kernels/cpu/*.c))
CUDA_SRC := $(sort $(wildcard kernels/cuda/*.cu))
TOOL_SRC := $(sort $(wildcard tools/avsl-*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC:= $(sort $(wildcard tests/bench/bench_*.c))
MAN_SRC  := $(sort $(wildcard man/*.[1-9]))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
ifeq ($(HAVE_CUDA),yes)
LIB_OBJ  += $(CUDA_SRC:%.cu=$(BUILD)/obj/%.o)
endif
LIB      := $(BUILD)/libavsl.a
TOOLS    := $(TOOL_SRC:tools/%.c=$(BUILD)/bin/%)
TESTS    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCHES  := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all check check-cuda bench demo lint lint-cases deps deps-bench install clean config
all: config $(LIB) $(TOOLS) $(TESTS) $(BENCHES)

MISSING := $(foreach d,ZSTD DNNL OPENBLAS STB ZLIB,$(if $(filter no,$(HAVE_$(d))),$(d)))
config:
	@echo "avsl: zstd=$(HAVE_ZSTD) oneDNN=$(HAVE_DNNL) OpenBLAS=$(HAVE_OPENBLAS) stb=$(HAVE_STB) zlib=$(HAVE_ZLIB) cuda=$(HAVE_CUDA) (CUDA=$(CUDA)) mpi=$(HAVE_MPI) nccl=$(HAVE_NCCL)"
	@if [ -n "$(strip $(MISSING))" ]; then echo "avsl: missing: $(MISSING); run 'make deps' (as root) first" >&2; exit 1; fi

# Objects depend on the flags they were built with: switching CUDA=0 / CUDA=auto or CFLAGS rebuilds them.
FLAGS_LINE := $(CC) $(CPPFLAGS) $(ALL_CFLAGS) | $(NVCC) $(NVCCFLAGS) | $(LDLIBS)
FLAGS_STAMP := $(BUILD)/flags.stamp
$(shell mkdir -p $(BUILD); [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(FLAGS_LINE)' ] || echo '$(FLAGS_LINE)' > $(FLAGS_STAMP))

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) $(filter -D%,$(CPPFLAGS)) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< $(LIB) $(LDLIBS) -o $@

-include $(LIB_OBJ:.o=.d) $(TOOL_SRC:%.c=$(BUILD)/obj/%.d) $(TEST_SRC:%.c=$(BUILD)/obj/%.d) $(BENCH_SRC:%.c=$(BUILD)/obj/%.d)

# ---- tests ----------------------------------------------------------------------------------------------------
check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@BUILD=$(BUILD) tests/run.sh

check-cuda: all
	@AVSL_DEVICE=cuda BUILD=$(BUILD) tests/run.sh

bench: deps-bench all
	@BUILD=$(BUILD) tests/bench/run.sh

demo: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@$(MAKE) -s --no-print-directory -f pipelines/fashion-mnist.mk

# One PASS/FAIL line per man page (read by tests/run.sh); `make lint` fails on the first warning.
lint-cases:
	@for m in $(MAN_SRC); do \
		out=$$(mandoc -Tlint -Wwarning $$m 2>&1); \
		if [ -z "$$out" ]; then echo "PASS lint $$m"; else echo "FAIL lint $$m: $$(echo $$out | head -c 300)"; fi; \
	done
lint:
	@mandoc -Tlint -Wwarning $(MAN_SRC) && echo "lint: $(words $(MAN_SRC)) man pages clean"

# ---- dependencies ---------------------------------------------------------------------------------------------
DEB_BUILD := build-essential libzstd-dev libstb-dev libdnnl-dev libopenblas-dev zlib1g-dev libjpeg62-turbo-dev mandoc \
	libopenmpi-dev openmpi-bin
DEB_DEMO  := dataset-fashion-mnist
# what the test scripts import or call (tests/cli/*.sh check outputs with numpy)
DEB_TEST  := python3-numpy
DEB_BENCH := python3-torch python3-torchvision python3-faiss python3-numpy python3-pil
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "avsl: installing $$missing"; \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
			{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing; }; \
		else \
			echo "avsl: missing packages; run: sudo apt-get install $$missing" >&2; exit 1; \
		fi; \
	fi
endef
deps:
	$(call apt_install,$(DEB_BUILD) $(DEB_DEMO) $(DEB_TEST))
deps-bench: deps
	$(call apt_install,$(DEB_BENCH))

# ---- install --------------------------------------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/avsl
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 libcommon/*.h formats/*.h kernels/*.h $(DESTDIR)$(PREFIX)/include/avsl/
	for m in $(MAN_SRC); do s=$${m##*.}; install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

clean:
	rm -rf $(BUILD)
