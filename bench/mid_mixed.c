/* mid_mixed MODE CYCLES WS SEED [TOUCH]
 *
 * random_mixed over medium and big blocks. MODE is
 *   mid  sizes uniform in 1 KiB .. 32 KiB
 *   big  sizes uniform in 32 KiB .. 1 MiB
 * Each cycle picks a random slot of WS: an occupied slot is checked and freed,
 * an empty one gets a new block. The first and last bytes are written and, if
 * TOUCH is 1 (the default), one byte in every 4 KiB page, as a program using
 * the memory would (so an allocator that gives pages back pays the faults to
 * get them again). Checked before free. ops = CYCLES (default 10000000 for
 * mid, 500000 for big).
 */
#include "common.h"

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t tag;
} slot_t;

static BENCH_NOINLINE void run(slot_t *slots, uint64_t cycles, uint64_t ws, rng_t *rng, uint64_t min,
                               uint64_t max, int touch, uint64_t *nmalloc) {
  uint64_t m = 0;
  for (uint64_t c = 0; c < cycles; c++) {
    slot_t *s = &slots[rng_below(rng, ws)];
    if (s->p) {
      pat_check_ends(s->p, s->size, s->tag);
      if (touch) pat_check_pages(s->p, 1, s->size - 1, s->tag);
      free(s->p);
      s->p = NULL;
    } else {
      size_t size = (size_t)rng_range(rng, min, max);
      unsigned char *p = malloc(size);
      if (BENCH_UNLIKELY(!p)) bench_nomem(size);
      s->p = p;
      s->size = size;
      s->tag = c;
      pat_write_ends(p, size, c);
      if (touch) pat_write_pages(p, 1, size - 1, c);
      m++;
    }
  }
  *nmalloc = m;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv,
                    "MODE CYCLES WS SEED [TOUCH]   (MODE mid|big; default CYCLES 10000000 for mid, "
                    "500000 for big; WS 200; SEED 1; TOUCH 1)");
  const char *mode = argc > 1 ? argv[1] : "mid";
  uint64_t min, max;
  if (strcmp(mode, "mid") == 0) {
    min = 1024;
    max = 32 * 1024;
  } else if (strcmp(mode, "big") == 0) {
    min = 32 * 1024;
    max = 1024 * 1024;
  } else {
    bench_die(BENCH_EXIT_USAGE, "MODE must be mid or big, not '%s'", mode);
  }
  uint64_t cycles = arg_u64(argc, argv, 2, strcmp(mode, "big") == 0 ? 500000 : 10000000, "CYCLES");
  uint64_t ws = arg_u64(argc, argv, 3, 200, "WS");
  uint64_t seed = arg_u64(argc, argv, 4, 1, "SEED");
  int touch = (int)arg_u64(argc, argv, 5, 1, "TOUCH");
  if (ws == 0) bench_die(BENCH_EXIT_USAGE, "need WS > 0");

  slot_t *slots = calloc(ws, sizeof *slots);
  if (!slots) bench_nomem(ws * sizeof *slots);
  rng_t rng;
  rng_seed(&rng, seed);
  uint64_t nmalloc;

  double t0 = bench_start();
  run(slots, cycles, ws, &rng, min, max, touch, &nmalloc);
  double secs = bench_stop(t0);

  for (uint64_t i = 0; i < ws; i++)
    if (slots[i].p) {
      pat_check_ends(slots[i].p, slots[i].size, slots[i].tag);
      free(slots[i].p);
    }
  free(slots);

  res_begin("mid_mixed", cycles, secs);
  res_add(" mode=%s cycles=%" PRIu64 " ws=%" PRIu64 " seed=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64
          " touch=%d mallocs=%" PRIu64,
          mode, cycles, ws, seed, min, max, touch, nmalloc);
  res_end();
  return 0;
}
