/* large_realloc STEPS [LIVE SEED MIN MAX]
 *
 * Growing buffers, as a program appending to large vectors does. LIVE buffers
 * (default 4) are in play at once; each step picks one at random:
 *   empty      malloc a start size (log-uniform in MIN .. 16*MIN, default MIN
 *              64 KiB) and choose a target size (log-uniform up to MAX, default
 *              64 MiB);
 *   below its target   grow it by realloc, doubling or x1.5 (chosen at
 *              random), capped at MAX;
 *   at its target      check it and free it.
 * Every 4 KiB page of a buffer is written when it comes into the buffer (so
 * the memory is really used), a sample of pages is checked after each
 * realloc (the content must have moved with the block) and every page is
 * checked before free. ops = malloc + realloc + free calls. Reports peak RSS
 * and how many reallocs moved the block.
 */
#include "common.h" /* first: it defines _GNU_SOURCE */

#include <math.h>

typedef struct {
  unsigned char *p;
  size_t size, target;
  uint64_t tag;
} buf_t;

static void check_sample(const buf_t *b, rng_t *rng) {
  size_t npages = (b->size + 4095) / 4096;
  size_t last = (npages - 1) * 4096;
  if (b->p[0] != pat_byte(b->tag, 0)) bench_corrupt(b->p, b->size, 0, pat_byte(b->tag, 0), b->p[0]);
  if (b->p[last] != pat_byte(b->tag, last))
    bench_corrupt(b->p, b->size, last, pat_byte(b->tag, last), b->p[last]);
  for (int i = 0; i < 8; i++) {
    size_t off = (size_t)rng_below(rng, npages) * 4096;
    if (b->p[off] != pat_byte(b->tag, off)) bench_corrupt(b->p, b->size, off, pat_byte(b->tag, off), b->p[off]);
  }
}

/* Log-uniform in [lo, hi]. */
static size_t log_uniform(rng_t *rng, size_t lo, size_t hi) {
  double u = (double)(rng_next(rng) >> 11) * 0x1.0p-53;
  double v = exp(log((double)lo) + u * (log((double)hi) - log((double)lo)));
  size_t s = (size_t)v;
  return s < lo ? lo : s > hi ? hi : s;
}

static BENCH_NOINLINE void run(buf_t *bufs, uint64_t live, uint64_t steps, rng_t *rng, size_t min, size_t max,
                               uint64_t *counts) {
  uint64_t nmalloc = 0, nrealloc = 0, nfree = 0, moves = 0, tag = 0;
  for (uint64_t s = 0; s < steps; s++) {
    buf_t *b = &bufs[rng_below(rng, live)];
    if (!b->p) {
      size_t start_max = min * 16 < max ? min * 16 : max;
      b->size = log_uniform(rng, min, start_max);
      b->target = log_uniform(rng, b->size, max);
      b->tag = ++tag;
      b->p = malloc(b->size);
      if (BENCH_UNLIKELY(!b->p)) bench_nomem(b->size);
      b->p[0] = pat_byte(b->tag, 0);
      pat_write_pages(b->p, 1, b->size, b->tag);
      nmalloc++;
    } else if (b->size < b->target) {
      size_t old = b->size;
      size_t grown = (rng_next(rng) & 1) ? old * 2 : old + old / 2;
      if (grown > max) grown = max;
      if (grown <= old) grown = old + 1;
      unsigned char *q = realloc(b->p, grown);
      if (BENCH_UNLIKELY(!q)) bench_nomem(grown);
      if (q != b->p) moves++;
      b->p = q;
      check_sample(b, rng); /* still the old size: the old content must be there */
      b->size = grown;
      pat_write_pages(b->p, old, grown, b->tag);
      nrealloc++;
    } else {
      pat_check_pages(b->p, 0, b->size, b->tag);
      free(b->p);
      b->p = NULL;
      nfree++;
    }
  }
  counts[0] = nmalloc;
  counts[1] = nrealloc;
  counts[2] = nfree;
  counts[3] = moves;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv, "STEPS [LIVE SEED MIN MAX]   (default 2000 4 1 64k 64m)");
  uint64_t steps = arg_u64(argc, argv, 1, 2000, "STEPS");
  uint64_t live = arg_u64(argc, argv, 2, 4, "LIVE");
  uint64_t seed = arg_u64(argc, argv, 3, 1, "SEED");
  size_t min = (size_t)arg_u64(argc, argv, 4, 64 << 10, "MIN");
  size_t max = (size_t)arg_u64(argc, argv, 5, 64 << 20, "MAX");
  if (live == 0 || min == 0 || min > max) bench_die(BENCH_EXIT_USAGE, "need LIVE > 0 and 0 < MIN <= MAX");

  buf_t *bufs = calloc(live, sizeof *bufs);
  if (!bufs) bench_nomem(live * sizeof *bufs);
  rng_t rng;
  rng_seed(&rng, seed);
  uint64_t counts[4];

  double t0 = bench_start();
  run(bufs, live, steps, &rng, min, max, counts);
  double secs = bench_stop(t0);

  for (uint64_t i = 0; i < live; i++)
    if (bufs[i].p) {
      pat_check_pages(bufs[i].p, 0, bufs[i].size, bufs[i].tag);
      free(bufs[i].p);
    }
  free(bufs);

  res_begin("large_realloc", counts[0] + counts[1] + counts[2], secs);
  res_add(" steps=%" PRIu64 " live=%" PRIu64 " seed=%" PRIu64 " min=%zu max=%zu mallocs=%" PRIu64
          " reallocs=%" PRIu64 " frees=%" PRIu64 " moves=%" PRIu64,
          steps, live, seed, min, max, counts[0], counts[1], counts[2], counts[3]);
  res_end();
  return 0;
}
