/* dbcache [CACHE_BYTES OPS SEED]
 *
 * Shaped like an in-memory database: a page cache of CACHE_BYTES (default
 * 256m) held in blocks of 4096 + 16..256 bytes (a page plus its header, as
 * sqlite's page cache allocates them), and row objects of 24..400 bytes.
 * First the cache fills (one row object per page too), then OPS (default
 * 2,000,000) steps churn it: a step evicts a random page and loads a new one
 * (free + malloc), or replaces a few row objects, or grows a row by realloc.
 * Every block is written in full; ends are checked before free.
 * ops = malloc + realloc + free calls of both phases. The figure that matters
 * is peak_rss_kb (reported by every workload): size classes that round a
 * 4112-byte request up by 25% pay it on the whole cache.
 */
#include "common.h"

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t tag;
} obj_t;

static void obj_new(obj_t *o, size_t size, uint64_t tag) {
  o->p = malloc(size);
  if (!o->p) bench_nomem(size);
  o->size = size;
  o->tag = tag;
  memset(o->p, (int)(tag & 0xff), size);
  pat_write_ends(o->p, size, tag);
}

static void obj_free(obj_t *o) {
  pat_check_ends(o->p, o->size, o->tag);
  free(o->p);
  o->p = NULL;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv, "[CACHE_BYTES OPS SEED]   (default 256m 2000000 1)");
  uint64_t cache = arg_u64(argc, argv, 1, 256ull << 20, "CACHE_BYTES");
  uint64_t steps = arg_u64(argc, argv, 2, 2000000, "OPS");
  uint64_t seed = arg_u64(argc, argv, 3, 1, "SEED");
  size_t npages = (size_t)(cache / 4096);
  if (npages == 0) npages = 1;
  size_t nrows = npages * 4;
  obj_t *pages = calloc(npages, sizeof *pages), *rows = calloc(nrows, sizeof *rows);
  if (!pages || !rows) bench_nomem(nrows * sizeof *rows);
  rng_t rng;
  rng_seed(&rng, seed);
  uint64_t ops = 0, tag = 1;

  double t0 = bench_start();
  for (size_t i = 0; i < npages; i++) {
    obj_new(&pages[i], 4096 + (size_t)rng_range(&rng, 16, 256), tag++);
    obj_new(&rows[i], (size_t)rng_range(&rng, 24, 400), tag++);
    ops += 2;
  }
  size_t rows_live = npages;
  for (uint64_t s = 0; s < steps; s++) {
    uint64_t r = rng_below(&rng, 100);
    if (r < 40) { /* evict a page, load another */
      obj_t *pg = &pages[rng_below(&rng, npages)];
      obj_free(pg);
      obj_new(pg, 4096 + (size_t)rng_range(&rng, 16, 256), tag++);
      ops += 2;
    } else if (r < 90) { /* replace a row object, or add one while there is room */
      size_t i = (size_t)rng_below(&rng, rows_live + (rows_live < nrows));
      if (i == rows_live) rows_live++;
      else { obj_free(&rows[i]); ops++; }
      obj_new(&rows[i], (size_t)rng_range(&rng, 24, 400), tag++);
      ops++;
    } else { /* a row grows */
      obj_t *o = &rows[rng_below(&rng, rows_live)];
      pat_check_ends(o->p, o->size, o->tag);
      size_t grown = o->size + (size_t)rng_range(&rng, 8, 200);
      unsigned char *q = realloc(o->p, grown);
      if (!q) bench_nomem(grown);
      o->p = q;
      o->size = grown;
      o->tag = tag++;
      memset(o->p, (int)(o->tag & 0xff), grown);
      pat_write_ends(o->p, grown, o->tag);
      ops++;
    }
  }
  double secs = bench_stop(t0);
  uint64_t live = 0;
  for (size_t i = 0; i < npages; i++) live += pages[i].size;
  for (size_t i = 0; i < rows_live; i++) live += rows[i].size;
  for (size_t i = 0; i < npages; i++) obj_free(&pages[i]);
  for (size_t i = 0; i < rows_live; i++) obj_free(&rows[i]);
  free(pages);
  free(rows);
  res_begin("dbcache", ops, secs);
  res_add(" cache_bytes=%" PRIu64 " steps=%" PRIu64 " seed=%" PRIu64 " pages=%zu rows=%zu live_kb=%" PRIu64, cache,
          steps, seed, npages, rows_live, live / 1024);
  res_end();
  return 0;
}
