# tests/tsan/tsan.mk — the multi-thread tests under ThreadSanitizer (included
# by the top-level Makefile).
#   make test-tsan        build build-tsan/ and run tests/tsan/run (a few minutes)
#   make test-tsan-build  only build
# The library is built with clang -fsanitize=thread (atomics, locks and plain
# accesses all instrumented), without src/override.c: TSan owns `malloc` in
# the process, so the tests reach hakmem through its hak_* API
# (tests/tsan/hak_api.h, force-included, maps their malloc/free/... onto it).

TSAN_CC       ?= clang
TSAN_DIR      := build-tsan
TSAN_FLAGS    := -fsanitize=thread -g
TSAN_LIBFLAGS := $(filter-out -O2,$(LIBFLAGS)) -O1 -DHAK_DEBUG=1 $(TSAN_FLAGS)
TSAN_OBJS     := $(patsubst src/%.c,$(TSAN_DIR)/obj/%.o,$(filter-out src/override.c,$(LIB_SRCS)))
TSAN_TESTS    := $(addprefix $(TSAN_DIR)/tests/,stress prodcons churn fork larson xpages xcache unwind)

.PHONY: test-tsan test-tsan-build
test-tsan-build: $(TSAN_TESTS)

$(TSAN_DIR)/obj/%.o: src/%.c $(LIB_HDRS) Makefile tests/tsan/tsan.mk
	@mkdir -p $(dir $@)
	$(TSAN_CC) $(TSAN_LIBFLAGS) -c $< -o $@

$(TSAN_DIR)/libhakmem.so: $(TSAN_OBJS)
	$(TSAN_CC) -shared $(TSAN_FLAGS) -o $@ $^ -Wl,-soname,libhakmem.so -lpthread

$(TSAN_DIR)/tests/%: tests/%.c tests/check.h tests/tsan/hak_api.h include/hakmem.h $(TSAN_DIR)/libhakmem.so
	@mkdir -p $(dir $@)
	$(TSAN_CC) -std=gnu11 -O1 -Wall -Wextra -fno-builtin -D_GNU_SOURCE -pthread -Iinclude -Itests $(TSAN_FLAGS) \
	  -include tests/tsan/hak_api.h $< -o $@ -L$(TSAN_DIR) -lhakmem -Wl,-rpath,$(abspath $(TSAN_DIR)) -ldl

# the profiler's stack walk (its rule cache filled by threads at once):
# hak_unwind is hidden in the .so, so the objects are linked in
$(TSAN_DIR)/tests/unwind: tests/unwind.c tests/unwind_frames.c tests/check.h src/unwind.h $(TSAN_OBJS)
	@mkdir -p $(dir $@)
	$(foreach v,$(UNWIND_VARIANTS),$(TSAN_CC) -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -pthread -Iinclude -Itests $(TSAN_FLAGS) \
	  $(UNWIND_$(v)) -DV=$(v) -c tests/unwind_frames.c -o $@_$(v).o &&) \
	$(TSAN_CC) -std=gnu11 -O1 -Wall -Wextra -fno-builtin -D_GNU_SOURCE -pthread -Iinclude -Itests $(TSAN_FLAGS) \
	  -include tests/tsan/hak_api.h $< $(foreach v,$(UNWIND_VARIANTS),$@_$(v).o) $(TSAN_OBJS) -o $@ -ldl

test-tsan: test-tsan-build
	TSAN_BUILD=$(TSAN_DIR) bash tests/tsan/run $(T)
