# bench/bench.mk — the benchmark suite (included by the top-level Makefile).
#   make bench-build   build the workloads into $(BUILD)/bench/
#   make bench         install peers (bench/install-peers), run the matrix (bench/run)
#   make bench-smoke   every workload once, tiny, with system malloc and hakmem:
#                      checks exit status and the allocator proof (CI)
#   make soak-smoke    bench/soak --smoke: a few very short soak epochs of both soak
#                      workloads for hakmem and system malloc, output checked (CI)
# BENCH_ARGS is passed to bench/run by `make bench`, e.g.
#   make bench BENCH_ARGS="--workloads random_mixed,larson --runs 3"

BENCH_DIR       := $(BUILD)/bench
BENCH_WORKLOADS := random_mixed tiny_hot mid_mixed large_realloc larson prodcons false_share phase dbcache bigbuf soak_workload
BENCH_BINS      := $(addprefix $(BENCH_DIR)/,$(BENCH_WORKLOADS))
# -fno-builtin-*: the compiler must not drop malloc/free pairs or fold them away.
BENCH_CFLAGS    := -std=gnu11 -O2 -g -pthread -D_GNU_SOURCE -Wall -Wextra -Wshadow \
                   -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc \
                   -Iinclude -I$(BENCH_DIR) $(BENCH_EXTRA_CFLAGS)
BENCH_LDLIBS    := -pthread -ldl -lm
BENCH_ARGS      ?=
PYTHON3         ?= python3

.PHONY: bench-build bench-smoke soak-smoke bench-clean

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

bench-smoke: lib bench-build
	$(PYTHON3) bench/run --smoke --build $(BUILD)

soak-smoke: lib bench-build
	$(PYTHON3) bench/soak --smoke --build $(BUILD)

bench-clean:
	rm -rf $(BENCH_DIR)
