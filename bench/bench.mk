# bench/bench.mk — the benchmark suite (included by the top-level Makefile).
#   make bench-build   build the workloads into $(BUILD)/bench/
#   make bench         install peers (bench/install-peers), run the matrix (bench/run)
#   make bench-smoke   every workload once, tiny, with system malloc and hakmem:
#                      checks exit status and the allocator proof (CI)
#   make soak-smoke    bench/soak --smoke: a few very short soak epochs of both soak
#                      workloads for hakmem and system malloc, output checked (CI)
#   make bench-selftest unit tests of the A/B verdict (synthetic data) and of the gate
#                      audit (hand-written assembly); seconds; part of bench-smoke
#   make audit         bench/audit: the fast paths of malloc, free, calloc, realloc,
#                      operator new/delete in $(BUILD)/libhakmem.so; build-fast/ (if
#                      built) with --strict: no option or counter may be touched there;
#                      build-observe/ (if built) for information (CI)
# BENCH_ARGS is passed to bench/run by `make bench`, e.g.
#   make bench BENCH_ARGS="--workloads random_mixed,larson --runs 3"

BENCH_DIR       := $(BUILD)/bench
BENCH_WORKLOADS := random_mixed tiny_hot mid_mixed large_realloc larson prodcons xfree false_share phase dbcache bigbuf soak_workload
BENCH_BINS      := $(addprefix $(BENCH_DIR)/,$(BENCH_WORKLOADS))
# -fno-builtin-*: the compiler must not drop malloc/free pairs or fold them away.
BENCH_CFLAGS    := -std=gnu11 -O2 -g -pthread -D_GNU_SOURCE -Wall -Wextra -Wshadow \
                   -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc \
                   -Iinclude -I$(BENCH_DIR) $(BENCH_EXTRA_CFLAGS)
BENCH_LDLIBS    := -pthread -ldl -lm
BENCH_ARGS      ?=
PYTHON3         ?= python3

.PHONY: bench-build bench-smoke bench-selftest soak-smoke audit bench-clean

bench-build: $(BENCH_BINS)

# The hak_stats_t field list, taken from the public header so a new counter is
# printed without touching the workloads.
$(BENCH_DIR)/hak_stats_fields.h: include/hakmem.h bench/bench.mk
	@mkdir -p $(dir $@)
	awk '/typedef struct hak_stats_s/ {on=1; next} on && /}/ {on=0} \
	     on && match($$0, /uint64_t[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*;/) { \
	       s = substr($$0, RSTART, RLENGTH); sub(/uint64_t[ \t]+/, "", s); sub(/[ \t]*;/, "", s); f = f " X(" s ")" } \
	     END { if (f == "") exit 1; print "/* generated from include/hakmem.h by bench/bench.mk */"; \
	           print "#define HAK_STATS_FIELDS(X)" f }' $< > $@.tmp && mv $@.tmp $@

$(BENCH_DIR)/%: bench/%.c bench/common.h $(BENCH_DIR)/hak_stats_fields.h include/hakmem.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@ $(BENCH_LDLIBS)

bench: lib bench-build
	-bench/install-peers
	$(PYTHON3) bench/run --build $(BUILD) $(BENCH_ARGS)

bench-smoke: lib bench-build bench-selftest
	$(PYTHON3) bench/run --smoke --build $(BUILD)
	@echo "$(PYTHON3) bench/run --aa $(BUILD)/libhakmem.so --quick --max-pairs 10 random_mixed tiny_hot"
	@$(PYTHON3) bench/run --aa $(BUILD)/libhakmem.so --build $(BUILD) --quick --max-pairs 10 --no-callgrind \
	  --out $(BENCH_DIR)/aa-smoke random_mixed tiny_hot > $(BENCH_DIR)/aa-smoke.txt 2>&1 \
	  || { cat $(BENCH_DIR)/aa-smoke.txt; exit 1; }
	@grep -E '^\| (random_mixed|tiny_hot) |^A/A ' $(BENCH_DIR)/aa-smoke.txt
	@grep -qF 'A/A passed: NEUTRAL' $(BENCH_DIR)/aa-smoke.txt

bench-selftest:
	$(PYTHON3) bench/test_ab.py
	$(PYTHON3) bench/test_audit.py

# The gate audit. build-fast/, build-observe/ and build-secure/ are the
# `make fast`, `make observe` and `make secure` flavours; they are audited when
# they have been built (secure: --strict, its checks read no option or counter).
AUDIT_FAST    ?= build-fast/libhakmem.so
AUDIT_OBSERVE ?= build-observe/libhakmem.so
AUDIT_SECURE  ?= build-secure/libhakmem.so
audit: lib
	$(PYTHON3) bench/audit $(BUILD)/libhakmem.so
	@if [ -f $(AUDIT_FAST) ]; then echo; echo "$(PYTHON3) bench/audit --strict --label fast $(AUDIT_FAST)"; \
	  $(PYTHON3) bench/audit --strict --label fast $(AUDIT_FAST) || exit 1; \
	else echo "audit: $(AUDIT_FAST) not built (make fast): not audited"; fi
	@if [ -f $(AUDIT_OBSERVE) ]; then echo; echo "$(PYTHON3) bench/audit --label observe $(AUDIT_OBSERVE)"; \
	  $(PYTHON3) bench/audit --label observe $(AUDIT_OBSERVE) || exit 1; \
	else echo "audit: $(AUDIT_OBSERVE) not built (make observe): not audited"; fi
	@if [ -f $(AUDIT_SECURE) ]; then echo; echo "$(PYTHON3) bench/audit --strict --label secure $(AUDIT_SECURE)"; \
	  $(PYTHON3) bench/audit --strict --label secure $(AUDIT_SECURE) || exit 1; \
	else echo "audit: $(AUDIT_SECURE) not built (make secure): not audited"; fi

soak-smoke: lib bench-build
	$(PYTHON3) bench/soak --smoke --build $(BUILD)

bench-clean:
	rm -rf $(BENCH_DIR)
