/* random_mixed CYCLES WS SEED [MIN MAX]
 *
 * WS slots, initially empty. Each cycle picks a random slot: an occupied slot
 * is checked (first and last byte) and freed, an empty one gets malloc(size)
 * with size uniform in [MIN, MAX] (default 16..1024) and its first and last
 * bytes written. ops = CYCLES (each cycle is one malloc or one free).
 * Canonical run: random_mixed 20000000 400 1
 */
#include "common.h"

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t tag;
} slot_t;

static BENCH_NOINLINE void run(slot_t *slots, uint64_t cycles, uint64_t ws, rng_t *rng, uint64_t min,
                               uint64_t max, uint64_t *nmalloc, uint64_t *nfree) {
  uint64_t m = 0, f = 0;
  for (uint64_t c = 0; c < cycles; c++) {
    uint64_t r = rng_next(rng);
    slot_t *s = &slots[(uint64_t)(((unsigned __int128)r * ws) >> 64)];
    if (s->p) {
      pat_check_ends(s->p, s->size, s->tag);
      free(s->p);
      s->p = NULL;
      f++;
    } else {
      size_t size = (size_t)rng_range(rng, min, max);
      unsigned char *p = malloc(size);
      if (BENCH_UNLIKELY(!p)) bench_nomem(size);
      s->p = p;
      s->size = size;
      s->tag = c;
      pat_write_ends(p, size, c);
      m++;
    }
  }
  *nmalloc = m;
  *nfree = f;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv, "CYCLES WS SEED [MIN MAX]   (default 20000000 400 1 16 1024)");
  uint64_t cycles = arg_u64(argc, argv, 1, 20000000, "CYCLES");
  uint64_t ws = arg_u64(argc, argv, 2, 400, "WS");
  uint64_t seed = arg_u64(argc, argv, 3, 1, "SEED");
  uint64_t min = arg_u64(argc, argv, 4, 16, "MIN");
  uint64_t max = arg_u64(argc, argv, 5, 1024, "MAX");
  if (ws == 0 || min > max) bench_die(BENCH_EXIT_USAGE, "need WS > 0 and MIN <= MAX");

  slot_t *slots = calloc(ws, sizeof *slots);
  if (!slots) bench_nomem(ws * sizeof *slots);
  rng_t rng;
  rng_seed(&rng, seed);
  uint64_t nmalloc, nfree;

  double t0 = bench_start();
  run(slots, cycles, ws, &rng, min, max, &nmalloc, &nfree);
  double secs = bench_stop(t0);

  for (uint64_t i = 0; i < ws; i++)
    if (slots[i].p) {
      pat_check_ends(slots[i].p, slots[i].size, slots[i].tag);
      free(slots[i].p);
    }
  free(slots);

  res_begin("random_mixed", cycles, secs);
  res_add(" cycles=%" PRIu64 " ws=%" PRIu64 " seed=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64
          " mallocs=%" PRIu64 " frees=%" PRIu64,
          cycles, ws, seed, min, max, nmalloc, nfree);
  res_end();
  return 0;
}
