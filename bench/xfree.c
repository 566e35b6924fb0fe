/* xfree [THREADS ITEMS BATCH MIN MAX INFLIGHT SEED]
 *
 * Cross-thread frees in bulk: each of THREADS threads allocates batches of
 * BATCH small blocks (sizes uniform in [MIN, MAX], default 16..256) and hands
 * each whole batch to a random other thread, which frees every block of it.
 * So nearly every free is of a block another, live thread allocated, and the
 * frees of one batch all go to the same owner: the shape of a pipeline or a
 * thread pool returning results in bulk.
 *
 * Hand-off: every thread has an inbox, a lock-free stack of batches (one CAS
 * per batch); a thread takes its whole inbox at once (one exchange) between
 * two batches of its own. A batch descriptor is itself malloc'ed by the sender
 * and freed by the receiver. A thread with more than INFLIGHT of its blocks
 * (default 64 * BATCH) not yet freed drains its inbox and yields until some
 * come back, so memory stays bounded when threads outnumber cores.
 * Every block carries its size and a tag, checked before it is freed.
 * ITEMS blocks in all (default 4000000), split over the threads.
 * ops = mallocs + frees (descriptors included); also reports frees_per_sec.
 */
#include "common.h" /* first: it defines _GNU_SOURCE */

#include <sched.h>
#include <stdatomic.h>

#define CACHE_LINE 64

typedef struct block_s {
  struct block_s *next;
  uint32_t size, tag;
} block_t;

typedef struct batch_s {
  struct batch_s *next;
  block_t *blocks;
  uint64_t count;
} batch_t;

typedef struct {
  _Alignas(CACHE_LINE) _Atomic(batch_t *) inbox;
  _Alignas(CACHE_LINE) _Atomic int64_t outstanding; /* this thread's blocks not yet freed */
  _Alignas(CACHE_LINE) uint64_t id, nitems, freed, mallocs;
  struct shared_s *sh;
} worker_t;

typedef struct shared_s {
  worker_t *w;
  uint64_t nthreads, batch, min, max, inflight, seed;
  _Atomic uint64_t unfinished; /* threads still allocating */
  _Atomic int64_t live;        /* blocks allocated and not yet freed, all threads */
} shared_t;

static uint64_t drain(worker_t *me) {
  batch_t *b = atomic_exchange_explicit(&me->inbox, NULL, memory_order_acquire);
  uint64_t n = 0;
  while (b != NULL) {
    batch_t *next = b->next;
    worker_t *from = NULL;
    for (block_t *k = b->blocks; k != NULL;) {
      block_t *kn = k->next;
      if (BENCH_UNLIKELY(k->size < sizeof(block_t) || k->size > me->sh->max))
        bench_corrupt(k, 0, 0, 0, ((unsigned char *)k)[0]);
      unsigned char *p = (unsigned char *)k;
      if (BENCH_UNLIKELY(k->size > sizeof(block_t) && p[k->size - 1] != pat_byte(k->tag, k->size - 1)))
        bench_corrupt(p, k->size, k->size - 1, pat_byte(k->tag, k->size - 1), p[k->size - 1]);
      from = &me->sh->w[k->tag >> 24];
      free(k);
      n++;
      k = kn;
    }
    if (from) atomic_fetch_sub_explicit(&from->outstanding, (int64_t)b->count, memory_order_relaxed);
    free(b);
    b = next;
  }
  me->freed += n;
  if (n) atomic_fetch_sub_explicit(&me->sh->live, (int64_t)n, memory_order_release);
  return n;
}

static void *worker(void *arg) {
  worker_t *me = arg;
  shared_t *sh = me->sh;
  rng_t rng;
  rng_seed(&rng, sh->seed * 131 + me->id);
  uint64_t made = 0, seq = 0;
  while (made < me->nitems) {
    uint64_t n = sh->batch < me->nitems - made ? sh->batch : me->nitems - made;
    batch_t *b = malloc(sizeof *b);
    if (BENCH_UNLIKELY(!b)) bench_nomem(sizeof *b);
    block_t *head = NULL;
    for (uint64_t i = 0; i < n; i++) {
      size_t size = (size_t)rng_range(&rng, sh->min, sh->max);
      block_t *k = malloc(size);
      if (BENCH_UNLIKELY(!k)) bench_nomem(size);
      k->size = (uint32_t)size;
      k->tag = (uint32_t)(me->id << 24 | (seq++ & 0xffffff));
      if (size > sizeof(block_t)) ((unsigned char *)k)[size - 1] = pat_byte(k->tag, size - 1);
      k->next = head;
      head = k;
    }
    b->blocks = head;
    b->count = n;
    me->mallocs += n + 1;
    made += n;
    atomic_fetch_add_explicit(&me->outstanding, (int64_t)n, memory_order_relaxed);
    atomic_fetch_add_explicit(&sh->live, (int64_t)n, memory_order_relaxed);
    uint64_t to = rng_below(&rng, sh->nthreads - 1);
    if (to >= me->id) to++;
    worker_t *dst = &sh->w[to];
    b->next = atomic_load_explicit(&dst->inbox, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&dst->inbox, &b->next, b, memory_order_release,
                                                  memory_order_relaxed)) {
    }
    drain(me);
    unsigned spins = 0;
    while (atomic_load_explicit(&me->outstanding, memory_order_relaxed) > (int64_t)sh->inflight) {
      if (drain(me) == 0 && ++spins > 16) sched_yield();
    }
  }
  atomic_fetch_sub_explicit(&sh->unfinished, 1, memory_order_release);
  /* keep freeing what others send until every thread is done and nothing is live */
  unsigned idle = 0;
  for (;;) {
    if (drain(me)) { idle = 0; continue; }
    if (atomic_load_explicit(&sh->unfinished, memory_order_acquire) == 0 &&
        atomic_load_explicit(&sh->live, memory_order_acquire) == 0)
      break;
    if (++idle > 16) sched_yield();
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv, "[THREADS ITEMS BATCH MIN MAX INFLIGHT SEED]   (default ncpu 4000000 64 16 256 64*BATCH 1)");
  int ncpu = bench_ncpu();
  shared_t sh = {0};
  sh.nthreads = arg_u64(argc, argv, 1, (uint64_t)(ncpu > 1 ? ncpu : 2), "THREADS");
  uint64_t items = arg_u64(argc, argv, 2, 4000000, "ITEMS");
  sh.batch = arg_u64(argc, argv, 3, 64, "BATCH");
  sh.min = arg_u64(argc, argv, 4, 16, "MIN");
  sh.max = arg_u64(argc, argv, 5, 256, "MAX");
  sh.inflight = arg_u64(argc, argv, 6, 64 * sh.batch, "INFLIGHT");
  sh.seed = arg_u64(argc, argv, 7, 1, "SEED");
  if (sh.nthreads < 2 || sh.nthreads > 255 || sh.batch == 0 || sh.min < sizeof(block_t) || sh.min > sh.max ||
      sh.max > (1u << 30))
    bench_die(BENCH_EXIT_USAGE, "need 2 <= THREADS <= 255, BATCH > 0, 16 <= MIN <= MAX <= 1 GiB");
  worker_t *w = aligned_alloc(CACHE_LINE, sh.nthreads * sizeof *w);
  pthread_t *tids = calloc(sh.nthreads, sizeof *tids);
  if (!w || !tids) bench_nomem(sh.nthreads * sizeof *w);
  memset(w, 0, sh.nthreads * sizeof *w);
  sh.w = w;
  atomic_store(&sh.unfinished, sh.nthreads);

  double t0 = bench_start();
  for (uint64_t t = 0; t < sh.nthreads; t++) {
    w[t].id = t;
    w[t].sh = &sh;
    w[t].nitems = items / sh.nthreads + (t < items % sh.nthreads);
    tids[t] = bench_thread(worker, &w[t]);
  }
  for (uint64_t t = 0; t < sh.nthreads; t++) pthread_join(tids[t], NULL);
  double secs = bench_stop(t0);

  uint64_t freed = 0, mallocs = 0;
  for (uint64_t t = 0; t < sh.nthreads; t++) freed += w[t].freed, mallocs += w[t].mallocs;
  if (freed != items) bench_die(BENCH_EXIT_CORRUPT, "FAILED: %" PRIu64 " blocks freed of %" PRIu64, freed, items);
  uint64_t batches = mallocs - items, ops = mallocs + freed + batches;
  free(w);
  free(tids);
  res_begin("xfree", ops, secs);
  res_add(" frees_per_sec=%.6g threads=%" PRIu64 " batch=%" PRIu64 " min=%" PRIu64 " max=%" PRIu64 " seed=%" PRIu64,
          secs > 0 ? (double)freed / secs : 0.0, sh.nthreads, sh.batch, sh.min, sh.max, sh.seed);
  res_end();
  return 0;
}
