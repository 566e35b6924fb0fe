/* prodcons [ITEMS PRODUCERS CONSUMERS QUEUE MIN MAX SEED]
 *
 * Producer threads allocate, consumer threads free; a consumer never
 * allocates. Every (producer, consumer) pair has a bounded single-producer
 * single-consumer ring of QUEUE slots (default 1024); producer p deals its
 * blocks to the consumers in turn, publishes them in batches of 16, and
 * waits (yielding) while a ring is full.
 * A block holds its size and a tag, written by the producer and checked by the
 * consumer before free. ITEMS blocks in all (default 5000000), sizes uniform
 * in [MIN, MAX] (default 16..1024). Defaults: PRODUCERS = max(1, ncpu/2),
 * CONSUMERS = max(1, ncpu - PRODUCERS).
 * ops = frees (reported as ops_per_sec and frees_per_sec). The peak RSS shows
 * whether memory freed by the consumers flows back to the producers.
 */
#include "common.h" /* first: it defines _GNU_SOURCE */

#include <sched.h>
#include <stdatomic.h>

#define CACHE_LINE 64

typedef struct {
  _Alignas(CACHE_LINE) _Atomic uint64_t tail; /* published by the producer */
  uint64_t ptail, head_cache;                 /* the producer's own */
  _Alignas(CACHE_LINE) _Atomic uint64_t head; /* written by the consumer */
  uint64_t tail_cache;
  _Alignas(CACHE_LINE) unsigned char **slot;
  uint64_t mask;
} ring_t;

typedef struct {
  uint64_t id, nitems, min, max, seed, ncons;
  ring_t **rings; /* [ncons] */
} producer_t;

typedef struct {
  uint64_t id, nprod, freed;
  ring_t **rings; /* [nprod] */
  _Atomic uint64_t *producers_left;
} consumer_t;

typedef struct {
  uint64_t size, tag;
} header_t;

static void *producer(void *arg) {
  producer_t *pr = arg;
  rng_t rng;
  rng_seed(&rng, pr->seed * 31 + pr->id);
  uint64_t c = 0;
  for (uint64_t i = 0; i < pr->nitems; i++) {
    size_t size = (size_t)rng_range(&rng, pr->min, pr->max);
    unsigned char *p = malloc(size);
    if (BENCH_UNLIKELY(!p)) bench_nomem(size);
    header_t h = {size, (pr->id << 48) ^ i};
    memcpy(p, &h, sizeof h);
    if (size > sizeof h) p[size - 1] = pat_byte(h.tag, size - 1);
    ring_t *r = pr->rings[c];
    if (++c == pr->ncons) c = 0;
    uint64_t t = r->ptail;
    if (t - r->head_cache > r->mask) {
      atomic_store_explicit(&r->tail, t, memory_order_release); /* all of it visible before waiting */
      unsigned spins = 0;
      while (t - (r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire)) > r->mask)
        if (++spins > 64) sched_yield();
    }
    r->slot[t & r->mask] = p;
    r->ptail = ++t;
    /* Published in batches of 16: less cache-line traffic between the threads. */
    if ((t & 15) == 0) atomic_store_explicit(&r->tail, t, memory_order_release);
  }
  for (uint64_t k = 0; k < pr->ncons; k++)
    atomic_store_explicit(&pr->rings[k]->tail, pr->rings[k]->ptail, memory_order_release);
  return NULL;
}

static void *consumer(void *arg) {
  consumer_t *co = arg;
  unsigned idle = 0;
  for (;;) {
    uint64_t got = 0;
    int left = atomic_load_explicit(co->producers_left, memory_order_acquire) != 0;
    for (uint64_t k = 0; k < co->nprod; k++) {
      ring_t *r = co->rings[k];
      uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
      uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
      for (; h != t; h++) {
        unsigned char *p = r->slot[h & r->mask];
        header_t hd;
        memcpy(&hd, p, sizeof hd);
        if (BENCH_UNLIKELY(hd.size < sizeof hd || hd.size > (1ull << 40)))
          bench_corrupt(p, 0, 0, 0, p[0]);
        if (BENCH_UNLIKELY(hd.size > sizeof hd && p[hd.size - 1] != pat_byte(hd.tag, hd.size - 1)))
          bench_corrupt(p, hd.size, hd.size - 1, pat_byte(hd.tag, hd.size - 1), p[hd.size - 1]);
        free(p);
        got++;
        /* Give slots back in batches of 32: less cache-line traffic. */
        if ((got & 31) == 0) atomic_store_explicit(&r->head, h + 1, memory_order_release);
      }
      atomic_store_explicit(&r->head, h, memory_order_release);
    }
    co->freed += got;
    if (got == 0) {
      if (!left) break; /* producers had all finished before this sweep found nothing */
      if (++idle > 64) sched_yield();
    } else {
      idle = 0;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv,
                    "[ITEMS PRODUCERS CONSUMERS QUEUE MIN MAX SEED]   (default 5000000 ncpu/2 ncpu/2 1024 16 1024 1)");
  int ncpu = bench_ncpu();
  uint64_t items = arg_u64(argc, argv, 1, 5000000, "ITEMS");
  uint64_t np = arg_u64(argc, argv, 2, (uint64_t)(ncpu / 2 > 0 ? ncpu / 2 : 1), "PRODUCERS");
  uint64_t nc = arg_u64(argc, argv, 3, (uint64_t)(ncpu - (int)np > 0 ? ncpu - (int)np : 1), "CONSUMERS");
  uint64_t qsize = arg_u64(argc, argv, 4, 1024, "QUEUE");
  uint64_t min = arg_u64(argc, argv, 5, 16, "MIN");
  uint64_t max = arg_u64(argc, argv, 6, 1024, "MAX");
  uint64_t seed = arg_u64(argc, argv, 7, 1, "SEED");
  if (np == 0 || nc == 0 || qsize == 0 || (qsize & (qsize - 1)) != 0 || min < sizeof(header_t) || min > max)
    bench_die(BENCH_EXIT_USAGE, "need PRODUCERS, CONSUMERS > 0, QUEUE a power of two, 16 <= MIN <= MAX");

  ring_t *rings = aligned_alloc(CACHE_LINE, np * nc * sizeof *rings);
  ring_t **by_prod = calloc(np * nc, sizeof *by_prod), **by_cons = calloc(np * nc, sizeof *by_cons);
  producer_t *prods = calloc(np, sizeof *prods);
  consumer_t *cons = calloc(nc, sizeof *cons);
  pthread_t *tids = calloc(np + nc, sizeof *tids);
  if (!rings || !by_prod || !by_cons || !prods || !cons || !tids) bench_nomem(np * nc * sizeof *rings);
  memset(rings, 0, np * nc * sizeof *rings);
  for (uint64_t p = 0; p < np; p++)
    for (uint64_t c = 0; c < nc; c++) {
      ring_t *r = &rings[p * nc + c];
      r->slot = calloc(qsize, sizeof *r->slot);
      if (!r->slot) bench_nomem(qsize * sizeof *r->slot);
      r->mask = qsize - 1;
      by_prod[p * nc + c] = r;
      by_cons[c * np + p] = r;
    }
  _Atomic uint64_t producers_left = np;

  double t0 = bench_start();
  for (uint64_t c = 0; c < nc; c++) {
    cons[c] = (consumer_t){.id = c, .nprod = np, .rings = &by_cons[c * np], .producers_left = &producers_left};
    tids[np + c] = bench_thread(consumer, &cons[c]);
  }
  for (uint64_t p = 0; p < np; p++) {
    prods[p] = (producer_t){.id = p, .nitems = items / np + (p < items % np), .min = min, .max = max,
                            .seed = seed, .ncons = nc, .rings = &by_prod[p * nc]};
    tids[p] = bench_thread(producer, &prods[p]);
  }
  for (uint64_t p = 0; p < np; p++) {
    pthread_join(tids[p], NULL);
    atomic_fetch_sub_explicit(&producers_left, 1, memory_order_release);
  }
  for (uint64_t c = 0; c < nc; c++) pthread_join(tids[np + c], NULL);
  double secs = bench_stop(t0);

  uint64_t freed = 0;
  for (uint64_t c = 0; c < nc; c++) freed += cons[c].freed;
  if (freed != items) bench_die(BENCH_EXIT_CORRUPT, "FAILED: %" PRIu64 " blocks freed of %" PRIu64, freed, items);
  for (uint64_t i = 0; i < np * nc; i++) free(rings[i].slot);
  free(rings);
  free(by_prod);
  free(by_cons);
  free(prods);
  free(cons);
  free(tids);

  res_begin("prodcons", freed, secs);
  res_add(" frees_per_sec=%.6g producers=%" PRIu64 " consumers=%" PRIu64 " queue=%" PRIu64 " min=%" PRIu64
          " max=%" PRIu64 " seed=%" PRIu64,
          secs > 0 ? (double)freed / secs : 0.0, np, nc, qsize, min, max, seed);
  res_end();
  return 0;
}
