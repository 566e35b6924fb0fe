/* churn.c — many short-lived threads must not leak heaps, segments or RSS.
 *
 * usage: churn [THREADS]   (default 100000; CI uses fewer)
 *
 * Threads are created and joined in batches of 4. Each allocates and frees
 * a few blocks of various sizes and returns one block to the main thread
 * (through the join value), which frees it. Every 16th thread also frees a
 * block from a pthread key destructor registered after the allocator's own,
 * and allocates there (the allocator's thread-exit hook has already run).
 * VmRSS and the segments / heaps_live counters read after a quarter of the
 * run are compared with the final ones: final <= 2 * early + slack.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MiB ((size_t)1 << 20)

static pthread_key_t late_key;

static void late_destructor(void *p) {
  /* runs after hakmem's own thread-exit destructor (our key is created later) */
  free(p);
  void *q = malloc(200);
  if (q) memset(q, 1, 200);
  free(q);
}

static void *thread_main(void *arg) {
  uintptr_t i = (uintptr_t)arg;
  static const size_t sizes[] = {8, 24, 100, 500, 2000, 9000, 40000, 130000};
  void *p[6];
  for (int k = 0; k < 6; k++) {
    size_t n = sizes[(i + (uintptr_t)k * 3) % 8];
    if (k == 5 && i % 64 == 0) n = 3 * MiB; /* occasionally a large block */
    p[k] = malloc(n);
    if (!p[k]) return NULL;
    memset(p[k], (int)k, n < 4096 ? n : 4096);
  }
  for (int k = 1; k < 6; k++) free(p[k]);
  if (i % 16 == 0) {
    void *late = malloc(48);
    pthread_setspecific(late_key, late);
  }
  if (i % 5 == 0) { /* a thread that only reallocs */
    void *r = realloc(NULL, 64);
    r = realloc(r, 6000);
    free(r);
  }
  return p[0]; /* freed by the main thread */
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  if (n < 8) n = 8;
  hk_require();
  /* make sure hakmem's thread state exists (and its key, if it uses one) before ours */
  free(malloc(1));
  REQUIRE(pthread_key_create(&late_key, late_destructor) == 0);

  size_t rss_q = 0;
  hak_stats_t st_q, st_end;
  memset(&st_q, 0, sizeof st_q);
  memset(&st_end, 0, sizeof st_end);
  const int batch = 4;
  for (long i = 0; i < n; i += batch) {
    pthread_t t[4];
    int started = 0;
    for (int b = 0; b < batch && i + b < n; b++) {
      int rc = pthread_create(&t[b], NULL, thread_main, (void *)(uintptr_t)(i + b));
      CHECKF(rc == 0, "pthread_create failed at thread %ld: %s", i + b, strerror(rc));
      if (rc) break;
      started++;
    }
    for (int b = 0; b < started; b++) {
      void *ret = NULL;
      pthread_join(t[b], &ret);
      CHECKF(ret != NULL, "thread %ld failed to allocate", i + b);
      if (ret && hk_owns) CHECKF(hk_owns(ret), "thread %ld returned a block hakmem does not own", i + b);
      free(ret);
    }
    if (i / batch == n / batch / 4) {
      rss_q = rss_bytes();
      if (hk_stats_get) hk_stats_get(&st_q);
    }
    if (check_failures() > 20) break;
  }
  size_t rss_end = rss_bytes();
  if (hk_stats_get) hk_stats_get(&st_end);
  printf("churn: %ld threads; RSS %zu KiB at 1/4, %zu KiB at end; segments %llu -> %llu; heaps_live %llu -> %llu; "
         "heaps_created %llu\n",
         n, rss_q / 1024, rss_end / 1024, (unsigned long long)st_q.segments, (unsigned long long)st_end.segments,
         (unsigned long long)st_q.heaps_live, (unsigned long long)st_end.heaps_live,
         (unsigned long long)st_end.heaps_created);
  CHECKF(rss_end <= 2 * rss_q + 16 * MiB, "RSS grew from %zu KiB to %zu KiB", rss_q / 1024, rss_end / 1024);
  if (hk_stats_get) {
    CHECKF(st_end.segments <= 2 * st_q.segments + 8, "segments grew from %llu to %llu",
           (unsigned long long)st_q.segments, (unsigned long long)st_end.segments);
    CHECKF(st_end.heaps_live <= 2 * st_q.heaps_live + 8, "heaps_live grew from %llu to %llu",
           (unsigned long long)st_q.heaps_live, (unsigned long long)st_end.heaps_live);
    CHECKF(st_end.mapped_bytes <= 2 * st_q.mapped_bytes + 16 * MiB, "mapped_bytes grew from %llu to %llu",
           (unsigned long long)st_q.mapped_bytes, (unsigned long long)st_end.mapped_bytes);
    CHECKF(st_end.heaps_created >= (uint64_t)n, "heaps_created %llu < %ld threads that allocated",
           (unsigned long long)st_end.heaps_created, n);
    CHECKF(st_end.invalid_frees == 0, "invalid_frees %llu", (unsigned long long)st_end.invalid_frees);
  }
  return check_exit("churn");
}
