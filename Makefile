# hakmem — build, test, install.
#   make            build build/libhakmem.so and build/libhakmem.a
#   make test       build and run the test suite (what .ci/run calls)
#   make test-debug the core tests (and the heap profiler's) against a checked build (HAK_DEBUG=2: full
#                   page/segment validation, plus UBSan) in build-debug/
#   make fast       build-fast/: policy fixed at compile time (balanced)
#   make observe    build-observe/: counters on the fast paths (HAKMEM_STATS)
#   make secure     build-secure/: secure mode (HAK_SECURE=1: encoded and checked
#                   free lists, double-free bitmap, guard pages; docs/RELIABILITY.md)
#   make test-secure  secure build + the core tests and the misuse programs on it
#   make fuzz       fuzz the allocator for FUZZ_SECONDS (default 60) with libFuzzer,
#                   ASan, UBSan and HAK_DEBUG=2, in build-fuzz/ (tests/fuzz/fuzz.mk)
#   make test-tsan  the multi-thread tests against a ThreadSanitizer build, in
#                   build-tsan/ (tests/tsan/tsan.mk)
#   make bench      run the benchmark matrix (see docs/BENCHMARKS.md)
#   make install PREFIX=/usr/local

CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
BUILD   ?= build

WARN    := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wundef -Wshadow
# -fno-builtin-*: the compiler must not turn malloc+memset into a calloc call
# (or similar) inside the allocator itself, which would recurse.
LIBFLAGS := -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -ftls-model=initial-exec \
            -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc -fno-builtin-free \
            -fno-plt -D_GNU_SOURCE $(WARN) -Iinclude -Isrc $(EXTRA_CFLAGS)

LIB_SRCS := $(wildcard src/*.c)
LIB_HDRS := $(wildcard src/*.h) include/hakmem.h
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))

.PHONY: all lib test test-debug bench install clean fast observe secure test-secure flavours
all: lib
lib: $(BUILD)/libhakmem.so $(BUILD)/libhakmem.a

$(BUILD)/obj/%.o: src/%.c $(LIB_HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -c $< -o $@

# operator new may call a C++ new_handler that throws: its frames need unwind tables.
$(BUILD)/obj/override.o: LIBFLAGS += -fexceptions

# -Bsymbolic-functions: calls between the entry points (calloc, realloc,
# operator new...) and the hak_* implementation bind inside the library:
# direct calls and jumps instead of GOT indirections.
$(BUILD)/libhakmem.so: $(LIB_OBJS)
	$(CC) -shared -o $@ $^ -Wl,-soname,libhakmem.so -Wl,-z,now -Wl,-Bsymbolic-functions -lpthread $(EXTRA_LDFLAGS)

$(BUILD)/libhakmem.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

hakmem.pc: hakmem.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define HAKMEM_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' include/hakmem.h | paste -sd.)|g' $< > $@

install: lib hakmem.pc
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/libhakmem.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/libhakmem.a $(DESTDIR)$(PREFIX)/lib/
	if [ -f build-secure/libhakmem.so ]; then install -m 755 build-secure/libhakmem.so $(DESTDIR)$(PREFIX)/lib/libhakmem-secure.so; fi
	install -m 644 include/hakmem.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 hakmem.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	sed 's|^HAKMEM_LIB_DEFAULT=.*|HAKMEM_LIB_DEFAULT=$(PREFIX)/lib/libhakmem.so|' hakmem > $(DESTDIR)$(PREFIX)/bin/hakmem
	chmod 755 $(DESTDIR)$(PREFIX)/bin/hakmem

# Build flavours (docs/BENCHMARKS.md, "Build flavours"): the standard build
# is build/; fast fixes the policy at compile time; observe counts on the
# fast paths too; secure hardens the heap against misuse (compile time: a
# run-time switch would put a load and a branch on the standard fast paths).
fast:
	$(MAKE) BUILD=build-fast EXTRA_CFLAGS="-DHAK_FAST=1 $(EXTRA_CFLAGS)" lib
observe:
	$(MAKE) BUILD=build-observe EXTRA_CFLAGS="-DHAK_OBSERVE=1 $(EXTRA_CFLAGS)" lib
secure:
	$(MAKE) BUILD=build-secure EXTRA_CFLAGS="-DHAK_SECURE=1 $(EXTRA_CFLAGS)" lib
flavours: lib fast observe secure

# the core tests, every misuse program (tests/run: SECURE=1 expects secure
# mode's answers) and the real programs but the interpreter's test suite
# against build-secure/
test-secure:
	$(MAKE) BUILD=build-secure EXTRA_CFLAGS="-DHAK_SECURE=1 $(EXTRA_CFLAGS)" SECURE=1 \
	  test T="api stress fork churn prodcons larson purge release xpages firstcall dlopen cxx static misuse- replay- regress- \
	  prof-leak prof-fork prof-threads prof-windows prof-stress prof-larson prof-prodcons prof-cxx \
	  programs-sort programs-python programs-perl programs-git programs-sqlite programs-gcc programs-xz programs-zstd"

DEBUG_FLAGS := -DHAK_DEBUG=2 -fsanitize=undefined -fno-sanitize-recover=all
test-debug:
	$(MAKE) BUILD=build-debug EXTRA_CFLAGS="$(DEBUG_FLAGS)" EXTRA_LDFLAGS="-fsanitize=undefined" \
	  test T="api stress fork churn prodcons purge release xpages firstcall dlopen cxx misuse-free_interior-abort misuse-double_free misuse-free_uncarved-abort misuse-free_slack-abort replay- prof-"

clean:
	rm -rf $(BUILD) build-debug build-fuzz build-tsan build-fast build-observe build-secure hakmem.pc

-include tests/tests.mk
-include tests/fuzz/fuzz.mk
-include tests/tsan/tsan.mk
-include bench/bench.mk
