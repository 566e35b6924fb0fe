/* false_share [THREADS ITERS WRITES SIZE MODE]
 *
 * Allocator-induced false sharing (after Hoard's cache-thrash and
 * cache-scratch). THREADS threads (default: online CPUs) each repeat ITERS
 * times (default 3000000): malloc a SIZE-byte object (default 8), clear it,
 * increment its bytes WRITES times in turn (default 50), check the counts,
 * free it. If the allocator hands objects on one cache line to different
 * threads, the writes ping-pong that line between cores.
 * MODE active (default): as above.
 * MODE passive: the main thread first allocates one object per thread, back
 *   to back, and each thread starts by freeing the object it was given: an
 *   allocator that then reuses that memory for the thread makes it share
 *   lines with the other threads.
 * ops = malloc + free calls (2 per iteration); writes_per_sec is also given.
 */
#include "common.h"

typedef struct {
  uint64_t iters, writes, size;
  unsigned char *given;
  _Alignas(64) uint64_t done;
} worker_t;

static void *worker(void *arg) {
  worker_t *w = arg;
  if (w->given) free(w->given);
  uint64_t size = w->size, writes = w->writes;
  uint64_t full = writes / size, rem = writes % size;
  for (uint64_t i = 0; i < w->iters; i++) {
    unsigned char *p = malloc(size);
    if (BENCH_UNLIKELY(!p)) bench_nomem(size);
    memset(p, 0, size);
    volatile unsigned char *v = p;
    uint64_t j = 0;
    for (uint64_t k = 0; k < writes; k++) {
      v[j]++;
      if (++j == size) j = 0;
    }
    for (uint64_t b = 0; b < size; b++) {
      unsigned char want = (unsigned char)(full + (b < rem));
      if (BENCH_UNLIKELY(p[b] != want)) bench_corrupt(p, size, b, want, p[b]);
    }
    free(p);
  }
  w->done = 2 * w->iters;
  return NULL;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv, "[THREADS ITERS WRITES SIZE MODE]   (default ncpu 3000000 50 8 active)");
  uint64_t threads = arg_u64(argc, argv, 1, (uint64_t)bench_ncpu(), "THREADS");
  uint64_t iters = arg_u64(argc, argv, 2, 3000000, "ITERS");
  uint64_t writes = arg_u64(argc, argv, 3, 50, "WRITES");
  uint64_t size = arg_u64(argc, argv, 4, 8, "SIZE");
  const char *mode = argc > 5 && strcmp(argv[5], "-") != 0 ? argv[5] : "active";
  int passive;
  if (strcmp(mode, "active") == 0) passive = 0;
  else if (strcmp(mode, "passive") == 0) passive = 1;
  else bench_die(BENCH_EXIT_USAGE, "MODE must be active or passive, not '%s'", mode);
  if (threads == 0 || size == 0) bench_die(BENCH_EXIT_USAGE, "need THREADS > 0 and SIZE > 0");

  worker_t *ws = aligned_alloc(64, threads * sizeof *ws);
  pthread_t *tids = calloc(threads, sizeof *tids);
  if (!ws || !tids) bench_nomem(threads * sizeof *ws);
  memset(ws, 0, threads * sizeof *ws);
  for (uint64_t t = 0; t < threads; t++) {
    ws[t].iters = iters;
    ws[t].writes = writes;
    ws[t].size = size;
    if (passive) {
      ws[t].given = malloc(size);
      if (!ws[t].given) bench_nomem(size);
      memset(ws[t].given, 0, size);
    }
  }

  double t0 = bench_start();
  for (uint64_t t = 0; t < threads; t++) tids[t] = bench_thread(worker, &ws[t]);
  for (uint64_t t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  double secs = bench_stop(t0);

  uint64_t total = 0;
  for (uint64_t t = 0; t < threads; t++) total += ws[t].done;
  free(ws);
  free(tids);

  res_begin("false_share", total, secs);
  res_add(" mode=%s threads=%" PRIu64 " iters=%" PRIu64 " writes=%" PRIu64 " size=%" PRIu64
          " writes_per_sec=%.6g",
          mode, threads, iters, writes, size, secs > 0 ? (double)(iters * threads * writes) / secs : 0.0);
  res_end();
  return 0;
}
