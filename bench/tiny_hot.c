/* tiny_hot OPS [DEPTH SEED MIN MAX]
 *
 * Fast-path cost: LIFO malloc/free of small blocks (default 16..128 B) in a
 * tight loop. Each round pushes a random number (1..DEPTH, default 64) of
 * blocks on a stack and pops them all again, newest first. The first byte of
 * each block is written after malloc and checked before free. Sizes come from
 * a pre-computed table so the loop costs little besides the allocator.
 * ops = malloc + free calls (about OPS).
 */
#include "common.h"

#define NSIZES 4096

static BENCH_NOINLINE uint64_t run(uint64_t ops, uint64_t depth, rng_t *rng, const uint32_t *sizes,
                                   unsigned char **stack) {
  uint64_t done = 0;
  unsigned si = 0;
  while (done < ops) {
    uint64_t burst = 1 + rng_below(rng, depth);
    for (uint64_t i = 0; i < burst; i++) {
      size_t size = sizes[si++ & (NSIZES - 1)];
      unsigned char *p = malloc(size);
      if (BENCH_UNLIKELY(!p)) bench_nomem(size);
      p[0] = (unsigned char)i;
      stack[i] = p;
    }
    for (uint64_t i = burst; i-- > 0;) {
      unsigned char *p = stack[i];
      if (BENCH_UNLIKELY(p[0] != (unsigned char)i)) bench_corrupt(p, 0, 0, (unsigned char)i, p[0]);
      free(p);
    }
    done += 2 * burst;
  }
  return done;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv, "OPS [DEPTH SEED MIN MAX]   (default 200000000 64 1 16 128)");
  uint64_t ops = arg_u64(argc, argv, 1, 200000000, "OPS");
  uint64_t depth = arg_u64(argc, argv, 2, 64, "DEPTH");
  uint64_t seed = arg_u64(argc, argv, 3, 1, "SEED");
  uint64_t min = arg_u64(argc, argv, 4, 16, "MIN");
  uint64_t max = arg_u64(argc, argv, 5, 128, "MAX");
  if (depth == 0 || min == 0 || min > max) bench_die(BENCH_EXIT_USAGE, "need DEPTH > 0 and 0 < MIN <= MAX");

  rng_t rng;
  rng_seed(&rng, seed);
  uint32_t *sizes = malloc(NSIZES * sizeof *sizes);
  unsigned char **stack = malloc(depth * sizeof *stack);
  if (!sizes || !stack) bench_nomem(depth * sizeof *stack);
  for (int i = 0; i < NSIZES; i++) sizes[i] = (uint32_t)rng_range(&rng, min, max);

  double t0 = bench_start();
  uint64_t done = run(ops, depth, &rng, sizes, stack);
  double secs = bench_stop(t0);

  free(stack);
  free(sizes);
  res_begin("tiny_hot", done, secs);
  res_add(" depth=%" PRIu64 " seed=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64, depth, seed, min, max);
  res_add(" ns_per_op=%.3f", done ? secs * 1e9 / (double)done : 0.0);
  res_end();
  return 0;
}
