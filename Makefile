# nnc build. Every source under src/ except main.c goes into libnnc.a, which
# both the nnc binary and the test programs link. `make SAN=1` builds the same
# into build/san with AddressSanitizer + UBSan.
#   make            build build/nnc
#   make check      install deps, build, run unit + CLI tests, plain and sanitized,
#                   replay the fuzz seed corpora (tests/fuzz/fuzz.mk: make fuzz),
#                   and build nnc with clang too (build/clang: no warnings, links)
#   make demo       install deps, build, train models/iris.yaml end to end
#   make lint       cppcheck, and clang-format on the lines changed since main
#   make install    PREFIX=/usr/local DESTDIR=

CC      ?= cc
PREFIX  ?= /usr/local
VERSION := 0.1.0
PKGS    := openblas yaml-0.1
SAN     ?= 0

ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT     := -O1 -g
else
BUILD   := build
SANFLAGS :=
OPT     := -O2 -g -ftree-vectorize  # GCC 12 -O2 alone leaves element-wise loops scalar
endif

CFLAGS  ?= $(OPT)
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
           -Wshadow -Wstrict-prototypes -Wno-unused-parameter -DNNC_VERSION='"$(VERSION)"' \
           $(SANFLAGS) -MMD -MP
DEPCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
OTHER_LIBS = $(shell pkg-config --libs yaml-0.1 2>/dev/null) -lcsv -lz -lm -lpthread
LDLIBS  = $(shell pkg-config --libs openblas 2>/dev/null) $(OTHER_LIBS)
# The nnc binary takes OpenBLAS from its static archive when the system has
# it (Debian's libopenblas-dev does): the shared library's ~14k relocations
# by symbol name (the tables of its per-CPU kernels) cost every process about
# 2 ms at start, the larger part of a one-row `nnc predict` (measured: 8.5
# against 5.4 ms, median of 40). The tests link the shared library.
BLAS_A  := $(wildcard $(shell pkg-config --variable=libdir openblas 2>/dev/null)/libopenblas.a)
# (The archive's own dependencies as pkg-config lists them, linked only
# where needed: the CBLAS calls need no Fortran run time.)
BLAS_A_DEPS = -Wl,--as-needed $(filter-out -lopenblas,$(shell pkg-config --libs-only-l --static openblas 2>/dev/null)) -Wl,--no-as-needed
NNC_LDLIBS = $(if $(BLAS_A),$(BLAS_A) $(OTHER_LIBS) $(BLAS_A_DEPS),$(LDLIBS))
LDFLAGS += $(SANFLAGS)
TESTLIBS = $(shell pkg-config --libs check 2>/dev/null)

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/%.o)

.PHONY: all deps check unit cli demo install clean lint bench

all: $(BUILD)/nnc

deps:
	@scripts/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPCFLAGS) -c $< -o $@

# The recurrent gates' exp/sigmoid/tanh loops: GCC if-converts (and so
# vectorizes) their selects only without trapping math; results are the same.
$(BUILD)/src/layers/rnn_common.o: CFLAGS += -fno-trapping-math
# The optimizers' update rules: without errno, sqrtf is one instruction and
# their loops vectorize; results are the same.
$(BUILD)/src/optim_update.o: CFLAGS += -fno-math-errno

$(BUILD)/libnnc.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/nnc: $(BUILD)/src/main.o $(BUILD)/libnnc.a
	$(CC) $(LDFLAGS) -o $@ $^ $(NNC_LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(BUILD)/libnnc.a
	$(CC) $(LDFLAGS) -o $@ $^ $(TESTLIBS) $(LDLIBS)

# Unit tests (Check), then the CLI/golden tests against the binary.
unit: $(TEST_BIN)
	@tests/run-unit $(TEST_BIN)

cli: $(BUILD)/nnc
	@tests/run-cli $(BUILD)/nnc

check: deps
	$(MAKE) all
	$(MAKE) unit cli
	$(MAKE) SAN=1 all
	$(MAKE) SAN=1 unit cli
	$(MAKE) SAN=1 fuzz-replay
	$(MAKE) BUILD=build/clang CC=clang all

demo: deps
	$(MAKE) all
	@scripts/demo build/nnc

bench: deps
	$(MAKE) all
	bench/mlp.sh

# cppcheck over src/ and tests/, clang-format on the lines changed since main
# (scripts/lint; LINT_BASE=REV to choose; scripts/lint --all reports the tree).
lint: deps
	@scripts/lint

install: $(BUILD)/nnc
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/nnc $(DESTDIR)$(PREFIX)/bin/nnc
	install -m 644 man/nnc.1 $(DESTDIR)$(PREFIX)/share/man/man1/nnc.1

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)

include tests/fuzz/fuzz.mk
