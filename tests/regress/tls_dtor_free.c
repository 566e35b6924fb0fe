/* tls_dtor_free.c — regression test (fixed; it failed before): a thread whose
 * pthread key destructor frees a block after hakmem released the thread's
 * heap made a second heap for that one free.
 *
 * hakmem's key is created first, so its destructor (heap.c:
 * hak_heap_thread_done) runs before the program's: the thread's segments are
 * abandoned, then the program's destructor frees a block that lies in one of
 * them. The free found the segment abandoned and adopted it, which needs a
 * heap, so the exiting thread made one (and registered it again with
 * pthread_setspecific). glibc happened to run another destructor round and
 * release it, but in the last round (PTHREAD_DESTRUCTOR_ITERATIONS) that heap
 * and the segment it adopted would stay owned by a dead thread for good.
 * Before: 2 heaps created per thread. Now: the free leaves the block on its
 * page for the segment's next adopter, one heap per thread, nothing left
 * behind after hak_collect. (The same path started the purge thread from the
 * exiting thread: pthread_create's allocation made it a heap that only a
 * further destructor round released; now it is released at once.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "../check.h"

#define THREADS 200

static pthread_key_t key;

static void key_dtor(void *p) { free(p); }

static void *thread_main(void *arg) {
  (void)arg;
  void *p = malloc(100);
  REQUIRE(p && hk_owned(p));
  REQUIRE(pthread_setspecific(key, malloc(48)) == 0);
  free(p);
  return NULL;
}

int main(void) {
  hk_require();
  REQUIRE(pthread_key_create(&key, key_dtor) == 0); /* after hakmem's key */
  free(malloc(1)); /* the main thread's heap exists before counting */
  hak_stats_t a, b;
  hk_stats_get(&a);
  for (int i = 0; i < THREADS; i++) {
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, thread_main, NULL) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
  }
  hk_collect();
  hk_stats_get(&b);
  uint64_t made = b.heaps_created - a.heaps_created;
  printf("%d threads: %llu heaps created, %llu live after, segments %llu -> %llu\n", THREADS,
         (unsigned long long)made, (unsigned long long)b.heaps_live, (unsigned long long)a.segments,
         (unsigned long long)b.segments);
  /* + 1: the purge thread, started by an exiting thread's clean-up, has its
   * TLS vector allocated there (in a heap made and released at once) */
  CHECKF(made <= THREADS + 1, "%llu heaps made for %d threads (a late destructor's free made one)",
         (unsigned long long)made, THREADS);
  CHECKF(b.heaps_live == a.heaps_live, "heaps live: %llu before, %llu after", (unsigned long long)a.heaps_live,
         (unsigned long long)b.heaps_live);
  CHECKF(b.segments <= a.segments + 1, "segments %llu before, %llu after hak_collect",
         (unsigned long long)a.segments, (unsigned long long)b.segments);
  return check_exit("tls_dtor_free");
}
