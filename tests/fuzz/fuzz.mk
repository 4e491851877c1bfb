# Fuzzing (included by the Makefile). A target is tests/fuzz/fuzz_NAME.c
# defining LLVMFuzzerTestOneInput; its seeds are tests/fuzz/corpus/NAME/ and
# its libFuzzer dictionary, if any, tests/fuzz/NAME.dict. New files there
# are picked up by both targets below.
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="model csv"]
#       clang + libFuzzer + ASan/UBSan in build/fuzz; runs each target in
#       turn (new inputs go to build/fuzz/corpus, crashes to build/fuzz/artifacts)
#   make [SAN=1] fuzz-replay
#       every seed corpus through its target, no libFuzzer needed (make check
#       runs it with SAN=1)
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: fuzz fuzz-build fuzz-replay

fuzz-build:
	@scripts/install-deps
	$(MAKE) BUILD=build/fuzz CC=clang OPT="-O1 -g" \
	    SANFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
	    $(FUZZ_TARGETS:%=build/fuzz/bin/fuzz_%)

fuzz: fuzz-build
	@tests/fuzz/run build/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# libFuzzer binaries (only with CC=clang; see fuzz-build).
$(BUILD)/bin/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/libnnc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# Replay binaries: the same targets driven by tests/fuzz/replay.c.
$(BUILD)/replay/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(BUILD)/libnnc.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz-replay: $(FUZZ_NAMES:%=$(BUILD)/replay/fuzz_%)
	@for t in $(FUZZ_NAMES); do \
	    printf 'fuzz-replay %s: ' "$$t"; \
	    OPENBLAS_NUM_THREADS=1 $(BUILD)/replay/fuzz_$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# Keep the objects the pattern rules above chain through.
.SECONDARY: $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/fuzz_%.o) $(BUILD)/tests/fuzz/replay.o
