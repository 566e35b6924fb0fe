# tests/fuzz/fuzz.mk — the fuzzing harness (included by the top-level Makefile).
#   make fuzz                  fuzz for FUZZ_SECONDS (default 60), split over
#                              FUZZ_PROFILES, starting from the committed corpus
#   make fuzz FUZZ_SECONDS=3600   a longer run (see tests/README.md)
#   make fuzz-build            only build $(FUZZ_DIR)/fuzz_alloc
# The fuzzer is built with clang: libFuzzer + ASan + UBSan, and the library
# with coverage instrumentation, ASan, UBSan and HAK_DEBUG=2 (full page and
# segment validation). ASan keeps `malloc` for itself (it serves libFuzzer), so
# the harness reaches hakmem by its hak_* names, and by the libc names of
# src/override.c renamed to hakfz_* with objcopy (the code a preloaded program
# runs). The inputs that once failed, and the corpus, are replayed by `make
# test` (the replay-* tests) with the ordinary build.

FUZZ_CC       ?= clang
FUZZ_DIR      := build-fuzz
FUZZ_SECONDS  ?= 60
FUZZ_PROFILES ?= balanced lean
FUZZ_ARGS     ?=
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIBFLAGS := $(filter-out -O2,$(LIBFLAGS)) -O1 -DHAK_DEBUG=2 -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_OBJS     := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(filter-out src/override.c,$(LIB_SRCS))) \
                 $(FUZZ_DIR)/obj/override-renamed.o

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_DIR)/fuzz_alloc

$(FUZZ_DIR)/obj/%.o: src/%.c $(LIB_HDRS) Makefile tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_LIBFLAGS) -c $< -o $@

# Every symbol override.o defines (malloc, free, ..., operator new) gets the
# prefix hakfz_, so it does not clash with ASan's malloc.
$(FUZZ_DIR)/obj/override-renamed.o: $(FUZZ_DIR)/obj/override.o
	nm -g --defined-only $< | awk '$$3 !~ /^(hak_|__asan|__odr_asan|__sancov|__ubsan)/ {print $$3, "hakfz_" $$3}' > $@.syms
	objcopy --redefine-syms=$@.syms $< $@

# The harness is not instrumented for coverage: what guides the fuzzer is
# which paths of the allocator an input reaches, not the harness's own loops.
$(FUZZ_DIR)/fuzz_alloc.o: tests/fuzz/fuzz_alloc.c include/hakmem.h tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -O1 -g -Wall -Wextra -D_GNU_SOURCE -DFUZZ_RENAMED -Iinclude -pthread $(FUZZ_SAN) -c $< -o $@

$(FUZZ_DIR)/fuzz_alloc: $(FUZZ_DIR)/fuzz_alloc.o $(FUZZ_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -pthread $^ -o $@

# Run each profile for its share of FUZZ_SECONDS, from the committed corpus
# plus what earlier runs found (kept in $(FUZZ_DIR)/corpus). A crash, leak or
# timeout stops the run with libFuzzer's report; the input is saved as
# $(FUZZ_DIR)/artifacts/crash-* (replay it: $(FUZZ_DIR)/fuzz_alloc FILE, or
# build/tests/replay_alloc FILE).
fuzz: $(FUZZ_DIR)/fuzz_alloc
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	@set -e; n=$(words $(FUZZ_PROFILES)); for prof in $(FUZZ_PROFILES); do \
	  secs=$$(( $(FUZZ_SECONDS) / n )); [ $$secs -ge 1 ] || secs=1; \
	  echo "fuzz: profile $$prof, $$secs s"; \
	  HAKMEM_PROFILE=$$prof $(FUZZ_DIR)/fuzz_alloc -max_total_time=$$secs -max_len=2048 -timeout=20 \
	    -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/ $(FUZZ_ARGS) \
	    $(FUZZ_DIR)/corpus tests/fuzz/corpus 2>&1 | tee $(FUZZ_DIR)/fuzz-$$prof.log | \
	    grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::|==[0-9]+==|fuzz_alloc: FAIL|hakmem:|SUMMARY|artifact_prefix|Test unit written|INFO: seed)' || true; \
	  if ! grep -q '^Done [0-9]* runs' $(FUZZ_DIR)/fuzz-$$prof.log; then \
	    echo "fuzz: FAILED under profile $$prof: see $(FUZZ_DIR)/fuzz-$$prof.log and $(FUZZ_DIR)/artifacts/"; \
	    for a in $$(ls -t $(FUZZ_DIR)/artifacts/* 2>/dev/null | head -n1); do \
	      echo "fuzz: $$a, in hex (python3 bytes.fromhex() rebuilds it):"; od -An -v -tx1 $$a | tr -d ' \n' | fold -w 96; echo; done; \
	    exit 1; fi; \
	done; echo "fuzz: no failure in $(FUZZ_SECONDS) s"
