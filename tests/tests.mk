# tests/tests.mk — included by the top-level Makefile.
#   make test                 build the library and every test program, run tests/run
#   make test T='api fork'    run only the tests whose names start with these words
#   make test-build           only build the test programs (into $(BUILD)/tests)
# A test program that fails to compile or link does not stop the run: its
# compiler output is kept in $(BUILD)/tests/NAME.buildlog and tests/run reports
# the test as failed.

TEST_DIR      := $(BUILD)/tests
TEST_CFLAGS   := -std=gnu11 -O1 -g -Wall -Wextra -fno-builtin -D_GNU_SOURCE -pthread -Iinclude -Itests
TEST_CXXFLAGS := -std=c++17 -faligned-new -O1 -g -Wall -Wextra -fno-builtin -pthread -Iinclude -Itests
TEST_LINK     := -L$(BUILD) -lhakmem -Wl,-rpath,$(abspath $(BUILD)) -pthread -ldl
TEST_NOLINK   := -pthread -ldl
TEST_DEPS     := tests/check.h tests/oom.h tests/valgrind_run.h include/hakmem.h tests/tests.mk $(BUILD)/libhakmem.so

TEST_MISUSE   := $(patsubst tests/misuse/%.c,$(TEST_DIR)/misuse/%,$(wildcard tests/misuse/*.c))
TEST_KNOWN    := $(patsubst tests/known/%.c,$(TEST_DIR)/known/%,$(wildcard tests/known/*.c))
TEST_REGRESS  := $(patsubst tests/regress/%.c,$(TEST_DIR)/regress/%,$(wildcard tests/regress/*.c))
TEST_PROGS    := $(addprefix $(TEST_DIR)/,api block_start xcache stress stress_preload fork churn prodcons larson purge release stats xpages firstcall \
                   firstcall_preload dlopen cxx static rlimit rlimit_new interpose libinterpose_mmap.so exit libexit_late.so teardown crowd valgrind_prog replay_alloc prof unwind) $(TEST_MISUSE) $(TEST_KNOWN) $(TEST_REGRESS)

# $(call test_build,COMMAND): run COMMAND (which writes $@); on failure keep the log, no binary.
define test_build
	@mkdir -p $(dir $@)
	@rm -f $@ $@.buildlog
	@echo "  TESTCC  $@"
	@if ! $(1) > $@.buildlog 2>&1; then echo "  build of $@ FAILED, see $@.buildlog"; rm -f $@; fi; \
	 if [ -s $@.buildlog ]; then cat $@.buildlog; fi
endef

.PHONY: test test-build
test-build: $(TEST_PROGS)

test: lib test-build
	BUILD=$(BUILD) CC="$(CC)" SECURE=$(SECURE) bash tests/run $(T)

# linked with -lhakmem
$(TEST_DIR)/api $(TEST_DIR)/block_start $(TEST_DIR)/xcache $(TEST_DIR)/stress $(TEST_DIR)/fork $(TEST_DIR)/churn $(TEST_DIR)/prodcons $(TEST_DIR)/larson $(TEST_DIR)/purge $(TEST_DIR)/release $(TEST_DIR)/stats $(TEST_DIR)/xpages \
$(TEST_DIR)/firstcall $(TEST_DIR)/rlimit $(TEST_DIR)/crowd $(TEST_DIR)/valgrind_prog: \
    $(TEST_DIR)/%: tests/%.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_LINK))

# the heap profiler's test: -rdynamic so that dladdr names its allocation sites
$(TEST_DIR)/prof: tests/prof.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) -rdynamic $< -o $@ $(TEST_LINK) -lm)

# the profiler's stack walk (src/unwind.c, hidden in the .so): linked with
# libhakmem.a; the frames it walks (tests/unwind_frames.c) built four ways
UNWIND_VARIANTS := o0fp o0nofp o2fp o2nofp
UNWIND_o0fp     := -O0 -fno-omit-frame-pointer
UNWIND_o0nofp   := -O0 -fomit-frame-pointer
UNWIND_o2fp     := -O2 -fno-omit-frame-pointer
UNWIND_o2nofp   := -O2 -fomit-frame-pointer
$(TEST_DIR)/unwind: tests/unwind.c tests/unwind_frames.c src/unwind.h $(TEST_DEPS) $(BUILD)/libhakmem.a
	$(call test_build,sh -c '$(foreach v,$(UNWIND_VARIANTS),$(CC) $(TEST_CFLAGS) $(UNWIND_$(v)) -DV=$(v) -c tests/unwind_frames.c -o $@_$(v).o &&) \
	  $(CC) $(TEST_CFLAGS) -Isrc $< $(foreach v,$(UNWIND_VARIANTS),$@_$(v).o) -o $@ $(BUILD)/libhakmem.a -pthread -ldl $(EXTRA_LDFLAGS)')

# plain programs, run under LD_PRELOAD
$(TEST_DIR)/stress_preload $(TEST_DIR)/firstcall_preload: $(TEST_DIR)/%_preload: tests/%.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_NOLINK))
$(TEST_DIR)/interpose: tests/interpose.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_NOLINK))

# run under LD_PRELOAD, with a library whose destructor runs after hakmem's
EXIT_LATE_LINK := -L$(TEST_DIR) -lexit_late -Wl,-rpath,$(abspath $(TEST_DIR))
$(TEST_DIR)/exit: tests/exit.c $(TEST_DIR)/libexit_late.so $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) $< -o $@ $(EXIT_LATE_LINK) $(TEST_NOLINK))
$(TEST_DIR)/libexit_late.so: tests/exit_late.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) -shared -fPIC $< -o $@)

# an mmap/munmap/mremap interposer, preloaded beside hakmem
$(TEST_DIR)/libinterpose_mmap.so: tests/interpose_mmap.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) -shared -fPIC $< -o $@ -ldl)

# dlopens the library itself
$(TEST_DIR)/dlopen: tests/dlopen.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_NOLINK))

$(TEST_DIR)/cxx $(TEST_DIR)/rlimit_new: $(TEST_DIR)/%: tests/%.cpp $(TEST_DEPS)
	$(call test_build,$(CXX) $(TEST_CXXFLAGS) $< -o $@ $(TEST_LINK))
# plain, run under LD_PRELOAD
$(TEST_DIR)/teardown: tests/teardown.cpp $(TEST_DEPS)
	$(call test_build,$(CXX) $(TEST_CXXFLAGS) $< -o $@ $(TEST_NOLINK))

$(TEST_DIR)/static: tests/static.c $(TEST_DEPS) $(BUILD)/libhakmem.a
	$(call test_build,$(CC) $(TEST_CFLAGS) -static $< -o $@ $(BUILD)/libhakmem.a -lpthread $(EXTRA_LDFLAGS))

# the fuzzing harness (tests/fuzz) with a main() that replays input files
$(TEST_DIR)/replay_alloc: tests/fuzz/fuzz_alloc.c tests/fuzz/replay.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) tests/fuzz/fuzz_alloc.c tests/fuzz/replay.c -o $@ $(TEST_LINK))

$(TEST_DIR)/misuse/%: tests/misuse/%.c tests/misuse/misuse.h $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_LINK))

# reproducers of allocator bugs not fixed yet (tests/run: XFAIL, not counted)
$(TEST_DIR)/known/%: tests/known/%.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_LINK))

$(TEST_DIR)/regress/%: tests/regress/%.c $(TEST_DEPS)
	$(call test_build,$(CC) $(TEST_CFLAGS) $< -o $@ $(TEST_LINK))
