/* phase [BYTES IDLE_SEC SEED FREE_PCT]
 *
 * Phase behaviour and memory given back. Reports the resident set (VmRSS, from
 * /proc/self/statm) after each phase:
 *   rss_start_kb    before anything
 *   rss_alloc_kb    after allocating BYTES (default 1g) in blocks of mixed size
 *                   (by count: 60% 16..256 B, 30% 256 B..4 KiB, 9% 4..64 KiB,
 *                   1% 64 KiB..1 MiB), every byte written
 *   rss_freed_kb    after freeing FREE_PCT% (default 90) of them, at random
 *   rss_idle_kb     after sleeping IDLE_SEC seconds (default 1; may be 0.2)
 *   rss_tick_kb     after 1000 small malloc/free pairs (an allocator that
 *                   purges only when called gets its chance here)
 *   rss_realloc_kb  after allocating the freed amount again
 *   rss_end_kb      after freeing everything
 * Contents are checked before every free. ops = malloc + free calls; seconds
 * excludes the idle sleep.
 */
#include "common.h"

typedef struct {
  unsigned char *p;
  size_t size;
} blk_t;

static size_t pick_size(rng_t *rng) {
  uint64_t r = rng_below(rng, 100);
  if (r < 60) return (size_t)rng_range(rng, 16, 256);
  if (r < 90) return (size_t)rng_range(rng, 257, 4096);
  if (r < 99) return (size_t)rng_range(rng, 4097, 64 << 10);
  return (size_t)rng_range(rng, (64 << 10) + 1, 1 << 20);
}

static unsigned char fill_byte(size_t i) { return (unsigned char)(i * 0x9Du + 0x5Bu); }

static void blk_alloc(blk_t *b, size_t i, rng_t *rng) {
  b->size = pick_size(rng);
  b->p = malloc(b->size);
  if (!b->p) bench_nomem(b->size);
  memset(b->p, fill_byte(i), b->size);
}

static void blk_free(blk_t *b, size_t i) {
  unsigned char want = fill_byte(i);
  size_t mid = b->size / 2, last = b->size - 1;
  if (b->p[0] != want) bench_corrupt(b->p, b->size, 0, want, b->p[0]);
  if (b->p[mid] != want) bench_corrupt(b->p, b->size, mid, want, b->p[mid]);
  if (b->p[last] != want) bench_corrupt(b->p, b->size, last, want, b->p[last]);
  free(b->p);
  b->p = NULL;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv, "[BYTES IDLE_SEC SEED FREE_PCT]   (default 1g 1 1 90)");
  uint64_t bytes = arg_u64(argc, argv, 1, 1ull << 30, "BYTES");
  double idle = arg_double(argc, argv, 2, 1.0, "IDLE_SEC");
  uint64_t seed = arg_u64(argc, argv, 3, 1, "SEED");
  uint64_t pct = arg_u64(argc, argv, 4, 90, "FREE_PCT");
  if (pct > 100) bench_die(BENCH_EXIT_USAGE, "FREE_PCT must be 0..100");

  rng_t rng;
  rng_seed(&rng, seed);
  /* Upper bound on the block count: every block is at least 16 bytes. */
  size_t cap = 1024, n = 0;
  blk_t *blk = malloc(cap * sizeof *blk);
  if (!blk) bench_nomem(cap * sizeof *blk);
  long rss_start = rss_kb();
  uint64_t ops = 0;

  double t0 = bench_start();
  uint64_t total = 0;
  while (total < bytes) {
    if (n == cap) {
      cap *= 2;
      blk = realloc(blk, cap * sizeof *blk);
      if (!blk) bench_nomem(cap * sizeof *blk);
    }
    blk_alloc(&blk[n], n, &rng);
    total += blk[n].size;
    n++;
    ops++;
  }
  long rss_alloc = rss_kb();

  /* Free pct% in random order: a random permutation of the indices. */
  size_t *perm = malloc(n * sizeof *perm);
  if (!perm) bench_nomem(n * sizeof *perm);
  for (size_t i = 0; i < n; i++) perm[i] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)rng_below(&rng, i), t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
  size_t nfree = (size_t)((n * pct) / 100);
  uint64_t freed_bytes = 0;
  for (size_t k = 0; k < nfree; k++) {
    freed_bytes += blk[perm[k]].size;
    blk_free(&blk[perm[k]], perm[k]);
    ops++;
  }
  long rss_freed = rss_kb();
  double t_busy = now_sec() - t0;

  if (idle > 0) {
    struct timespec ts = {(time_t)idle, (long)((idle - (double)(time_t)idle) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  }
  long rss_idle = rss_kb();

  double t1 = now_sec();
  for (int i = 0; i < 1000; i++) {
    void *p = malloc(64);
    if (!p) bench_nomem(64);
    ((volatile unsigned char *)p)[0] = 1;
    free(p);
    ops += 2;
  }
  long rss_tick = rss_kb();

  /* Allocate the freed amount again, into the freed slots. */
  uint64_t again = 0;
  for (size_t k = 0; k < nfree && again < freed_bytes; k++) {
    blk_alloc(&blk[perm[k]], perm[k], &rng);
    again += blk[perm[k]].size;
    ops++;
  }
  long rss_realloc = rss_kb();
  double secs = t_busy + bench_stop(t1);

  for (size_t i = 0; i < n; i++)
    if (blk[i].p) blk_free(&blk[i], i);
  free(perm);
  free(blk);
  long rss_end = rss_kb();

  res_begin("phase", ops, secs);
  res_add(" bytes=%" PRIu64 " idle_sec=%g seed=%" PRIu64 " free_pct=%" PRIu64 " blocks=%zu", bytes, idle, seed,
          pct, n);
  res_add(" rss_start_kb=%ld rss_alloc_kb=%ld rss_freed_kb=%ld rss_idle_kb=%ld rss_tick_kb=%ld"
          " rss_realloc_kb=%ld rss_end_kb=%ld",
          rss_start, rss_alloc, rss_freed, rss_idle, rss_tick, rss_realloc, rss_end);
  res_end();
  return 0;
}
