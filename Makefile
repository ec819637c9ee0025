# avsl: GNU make build.
#   make            library, tools, tests (CUDA sources too when nvcc is found)
#   make CUDA=0     CPU only
#   make MPI=0      without the distributed path (mpirun/srun; built when mpicc is found)
#   make check      install what is missing (deps), build, run every test; ends with "N passed, N failed"
#   make check-cuda the op and golden tests on the GPU (needs a GPU host)
#   make bench      benchmarks against PyTorch / faiss / PIL on this machine
#   make demo       the Fashion-MNIST demo (pipelines/fashion-mnist.mk)
#   make check SANITIZE=1   the whole suite built with ASan+UBSan (+LeakSanitizer) in build-san, CPU only
#   make fuzz       build the libFuzzer harnesses (clang, build-fuzz) and run each for FUZZ_S seconds
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
# SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer on), every finding fatal, in its own
# tree without CUDA (nvcc objects are not instrumented). The CLI tests compile their helpers with the same flags.
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD    ?= build-san
override CUDA := 0
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
EXTRA_CFLAGS += $(SAN_FLAGS)
endif
BUILD    ?= build
CUDA_HOME ?= /usr/local/cuda
NPROC    ?= $(shell nproc 2>/dev/null || echo 2)
NVCC     ?= $(CUDA_HOME)/bin/nvcc
ARCHFLAGS ?= -march=native
OPT      ?= -O2
CFLAGS   ?= $(OPT) $(ARCHFLAGS) -g
WARN     := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wno-sign-compare -Wno-missing-field-initializers
CPPFLAGS += -D_FILE_OFFSET_BITS=64
# Include paths follow the layering: kernels/ and formats/ see only their own headers; the rest sees everything.
INCLUDES := -I. -Ilibcommon -Ikernels -Iformats -Itests -isystem /usr/include/stb
$(BUILD)/obj/kernels/%.o: INCLUDES := -Ikernels
$(BUILD)/obj/formats/%.o: INCLUDES := -Iformats
ALL_CFLAGS = -std=gnu11 -pthread -fopenmp $(WARN) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS   := -lzstd -ldnnl -lopenblas -lz -lm -lpthread -fopenmp

# ---- probes ---------------------------------------------------------------------------------------------------
probe_lib = $(shell printf '#include <%s>\nint main(void){return 0;}\n' '$(1)' | \
	$(CC) $(CPPFLAGS) -I/usr/include/stb -x c - -o /dev/null $(2) 2>/dev/null && echo yes || echo no)
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
NVCCFLAGS ?= -O3 -std=c++17 $(CUDA_ARCHS) -Xcompiler -Wall,-Wextra,-fPIC -Ikernels
comma := ,
ifeq ($(HAVE_CUDA),yes)
CPPFLAGS += -DAVSL_HAVE_CUDA=1
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
# libFuzzer harnesses (tests/fuzz/fuzz_*.c), linked here with the plain replay driver: `make check` runs each over
# its corpus tests/fuzz/corpus/NAME/ without clang.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

# ---- CUDA emulator (tests/cuda-emu): every .cu file built for the host with stand-ins for the CUDA runtime, cuDNN
# and cuBLAS, linked with the library's C objects, runs the CUDA tests on a machine without a GPU. Needs only g++.
CXX      ?= g++
EMU      := $(BUILD)/cuda-emu
EMU_FLAGS := -O1 -g -pthread -Wall -Wextra -Wno-unused-parameter -Wno-unused-function
EMU_CU_OBJ := $(CUDA_SRC:kernels/cuda/%.cu=$(EMU)/cu/%.o)
EMU_LIB_OBJ := $(filter-out $(BUILD)/obj/kernels/cuda/% $(BUILD)/obj/kernels/cuda_backend.o,$(LIB_OBJ)) \
	$(EMU)/cuda_backend.o $(EMU_CU_OBJ)
EMU_TEST_SRC := tests/unit/test_backend_ops.c tests/unit/test_cuda.c tests/unit/test_cuda_trunk.c tests/unit/test_cuda_model.c
EMU_TESTS := $(EMU_TEST_SRC:tests/unit/%.c=$(EMU)/%)
# The tools linked with the emulated CUDA backend: the CLI tests run `-d cuda` with them (tests/cli/cuda_emu.sh).
EMU_TOOLS := $(TOOL_SRC:tools/%.c=$(EMU)/bin/%)

.PHONY: all check check-cuda bench demo lint lint-cases deps deps-bench deps-fuzz fuzz fuzz-bins install print-public-headers clean config
all: config $(LIB) $(TOOLS) $(TESTS) $(BENCHES) $(EMU_TESTS) $(EMU_TOOLS) $(FUZZ_REPLAY)

MISSING := $(foreach d,ZSTD DNNL OPENBLAS STB ZLIB,$(if $(filter no,$(HAVE_$(d))),$(d)))
config:
	@echo "avsl: zstd=$(HAVE_ZSTD) oneDNN=$(HAVE_DNNL) OpenBLAS=$(HAVE_OPENBLAS) stb=$(HAVE_STB) zlib=$(HAVE_ZLIB) cuda=$(HAVE_CUDA) (CUDA=$(CUDA)) mpi=$(HAVE_MPI) nccl=$(HAVE_NCCL)"
	@if [ -n "$(strip $(MISSING))" ]; then echo "avsl: missing: $(MISSING); run 'make deps' (as root) first" >&2; exit 1; fi

# Objects depend on the flags they were built with: switching CUDA=0 / CUDA=auto or CFLAGS rebuilds them.
FLAGS_LINE := $(CC) $(INCLUDES) $(CPPFLAGS) $(ALL_CFLAGS) | $(NVCC) $(NVCCFLAGS) | $(LDLIBS)
FLAGS_STAMP := $(BUILD)/flags.stamp
$(shell mkdir -p $(BUILD); [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = '$(FLAGS_LINE)' ] || echo '$(FLAGS_LINE)' > $(FLAGS_STAMP))

# stb_image and stb_image_write (third-party, compiled into image.c) shift ints into the sign bit (JPEG bit packing)
# and add 0 to, or memcpy 0 bytes to, a NULL pointer (a PNG whose first IDAT chunk is empty): UB by the letter that
# the library relies on.
# Under a sanitizer (SANITIZE=1, make fuzz) those three checks are off for that one file.
STB_NOSAN := -fno-sanitize=shift-base,pointer-overflow,nonnull-attribute
$(BUILD)/obj/libcommon/image.o: ALL_CFLAGS += $(if $(findstring -fsanitize=,$(EXTRA_CFLAGS)),$(STB_NOSAN))

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(INCLUDES) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

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

$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(EMU)/cu/%.cpp: kernels/cuda/%.cu tests/cuda-emu/launches.py
	@mkdir -p $(@D)
	python3 tests/cuda-emu/launches.py $< $@

$(EMU)/cu/%.o: $(EMU)/cu/%.cpp $(FLAGS_STAMP)
	$(CXX) -std=c++17 $(EMU_FLAGS) -DAVSL_HAVE_CUDA=1 -DAVSL_CUDA_EMU=1 -Itests/cuda-emu/include -Ikernels/cuda -Ikernels \
		-MMD -MP -c $< -o $@

$(EMU)/cuda_backend.o: kernels/cuda_backend.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(EMU_FLAGS) -DAVSL_HAVE_CUDA=1 -Ikernels -MMD -MP -c $< -o $@

$(EMU)/test_%.o: tests/unit/test_%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(INCLUDES) $(CPPFLAGS) $(ALL_CFLAGS) -DAVSL_HAVE_CUDA=1 -DAVSL_CUDA_EMU=1 -MMD -MP -c $< -o $@

# An archive, so a test pulls only what it uses; the real CUDA libraries are never linked (the stand-ins replace them).
EMU_LDLIBS := $(filter-out -L$(CUDA_HOME)/lib64 -Wl$(comma)-rpath$(comma)$(CUDA_HOME)/lib64 -lcudnn -lcublasLt \
	-lcublas -lcudart -lnccl,$(LDLIBS))
$(EMU)/libavsl-emu.a: $(EMU_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(EMU)/test_%: $(EMU)/test_%.o $(EMU)/libavsl-emu.a
	$(CXX) -pthread -fopenmp $(SAN_FLAGS) $^ $(EMU_LDLIBS) -o $@

# The same tool objects as $(BUILD)/bin: only the CUDA backend differs (the stand-ins instead of the GPU libraries).
$(EMU)/bin/%: $(BUILD)/obj/tools/%.o $(EMU)/libavsl-emu.a
	@mkdir -p $(@D)
	$(CXX) -pthread -fopenmp $(SAN_FLAGS) $^ $(EMU_LDLIBS) -o $@

-include $(EMU_CU_OBJ:.o=.d) $(EMU)/cuda_backend.d $(EMU_TESTS:=.d)
-include $(LIB_OBJ:.o=.d) $(TOOL_SRC:%.c=$(BUILD)/obj/%.d) $(TEST_SRC:%.c=$(BUILD)/obj/%.d) $(BENCH_SRC:%.c=$(BUILD)/obj/%.d)
-include $(FUZZ_SRC:%.c=$(BUILD)/obj/%.d) $(BUILD)/obj/tests/fuzz/replay.d

# ---- tests ----------------------------------------------------------------------------------------------------
# Under SANITIZE=1 every ASan/LSan report goes to a file under $(BUILD)/san-logs (a tool that was expected to fail
# must not hide one behind its exit status 1); tests/run.sh counts each report as a failed case. A sanitizer exits 86.
# Allocation stacks are unwound in full (not by frame pointers, which stop in uninstrumented libraries), so a leak is
# attributed to its library and tests/lsan.supp can name third-party ones.
SAN_ENV := $(if $(SAN_FLAGS),AVSL_SAN_FLAGS='$(SAN_FLAGS)' \
	ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:exitcode=86:log_path=$(CURDIR)/$(BUILD)/san-logs/asan \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86:log_path=$(CURDIR)/$(BUILD)/san-logs/ubsan)
check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@BUILD=$(BUILD) $(SAN_ENV) tests/run.sh

check-cuda: all
	@AVSL_DEVICE=cuda BUILD=$(BUILD) tests/run.sh

bench: deps-bench all
	@BUILD=$(BUILD) tests/bench/run.sh

demo: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	@$(MAKE) -s --no-print-directory -f pipelines/fashion-mnist.mk

# ---- fuzzing ---------------------------------------------------------------------------------------------------
# `make fuzz FUZZ_S=600`: every harness built with clang -fsanitize=fuzzer,address,undefined in $(FUZZ_BUILD), then
# run for FUZZ_S seconds each, FUZZ_JOBS at a time, from its committed seed corpus (new inputs go to
# $(FUZZ_BUILD)/corpus/NAME, findings to $(FUZZ_BUILD)/findings/); ends with a table of executions and findings.
FUZZ_S     ?= 60
FUZZ_JOBS  ?= 1
FUZZ_BUILD ?= build-fuzz
FUZZ_BINS  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-bin/%)
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory -j$(NPROC) CC=clang CUDA=0 SANITIZE=0 BUILD=$(FUZZ_BUILD) \
		EXTRA_CFLAGS='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all' fuzz-bins
	@BUILD=$(FUZZ_BUILD) FUZZ_S=$(FUZZ_S) FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run.sh
fuzz-bins: config $(FUZZ_BINS)
$(BUILD)/fuzz-bin/%: $(BUILD)/obj/tests/fuzz/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

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
# what the test scripts import or call (tests/cli/*.sh check outputs with numpy; install.sh runs man, pkg-config;
# mpi.sh and bad-input.sh find processes with pgrep/pkill, which a minimal Debian lacks)
DEB_TEST  := python3-numpy man-db pkgconf procps
DEB_FUZZ  := clang libclang-rt-dev libomp-dev
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
deps-fuzz: deps
	$(call apt_install,$(DEB_FUZZ))

# ---- install --------------------------------------------------------------------------------------------------
# The public headers (the API of libavsl.a, listed in HACKING.md): the file formats, the op contract, k-NN and the
# retrieval metrics. Everything else is internal. Each one compiles on its own from include/avsl/.
PUBLIC_HEADERS := formats/fmt_error.h formats/safetensors.h formats/npy.h formats/emb.h formats/graph.h \
	formats/shard.h kernels/ops.h kernels/op_list.h libcommon/knn.h libcommon/metrics.h libcommon/rng.h
print-public-headers:
	@echo $(PUBLIC_HEADERS)
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/avsl
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(PREFIX)/include/avsl/
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
		'Name: avsl' 'Description: Attributable Visual Similarity Learning: formats, ops, k-NN' 'Version: 0' \
		'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lavsl' 'Libs.private: $(strip $(LDLIBS))' \
		>$(DESTDIR)$(PREFIX)/lib/pkgconfig/avsl.pc
	for m in $(MAN_SRC); do s=$${m##*.}; install -d $(DESTDIR)$(PREFIX)/share/man/man$$s && \
		install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/ || exit 1; done

clean:
	rm -rf $(BUILD)
