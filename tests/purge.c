/* purge.c — freed memory goes back to the OS without hak_collect.
 *
 * usage: purge        (run it under HAKMEM_PROFILE=balanced and =lean: their
 *                      purge delays, 100 ms and 0, are what it relies on)
 *
 * 1. 128 MiB of small blocks and 128 MiB of medium blocks are allocated,
 *    touched and freed; after 300 ms (more than the purge delay) and a few
 *    more malloc/free calls, VmRSS must have dropped below half of the peak.
 *    A decay that only ever runs on allocation would never get there once
 *    the program stops allocating those sizes (jemalloc 1398/2688).
 * 2. The same with the blocks allocated by threads that have exited, freed
 *    by the main thread afterwards.
 * 3. realloc shrinking a 64 MiB block to 1 MiB gives the tail back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define MiB ((size_t)1 << 20)

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {}
}

static void nudge(void) {
  /* a few unrelated calls, as any program makes: the allocator may do its
   * deferred work here */
  for (int i = 0; i < 100; i++) {
    void *p = malloc(48);
    free(p);
    p = malloc(3000);
    free(p);
  }
}

struct chunk {
  void **v;
  size_t n, size;
};

static void fill_chunk(struct chunk *c) {
  for (size_t i = 0; i < c->n; i++) {
    c->v[i] = malloc(c->size);
    REQUIRE(c->v[i]);
    memset(c->v[i], 0x77, c->size);
  }
}
static void *thread_fill(void *arg) {
  fill_chunk(arg);
  return NULL;
}

static void phase(const char *name, int threads) {
  struct chunk c[2] = {{NULL, 128 * MiB / 1000, 1000}, {NULL, 128 * MiB / 30000, 30000}};
  for (int k = 0; k < 2; k++) {
    c[k].v = malloc(c[k].n * sizeof(void *));
    REQUIRE(c[k].v);
  }
  size_t before = rss_bytes();
  if (threads) {
    pthread_t t[2];
    for (int k = 0; k < 2; k++) REQUIRE(pthread_create(&t[k], NULL, thread_fill, &c[k]) == 0);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
  } else {
    for (int k = 0; k < 2; k++) fill_chunk(&c[k]);
  }
  size_t peak = rss_bytes();
  for (int k = 0; k < 2; k++) {
    for (size_t i = 0; i < c[k].n; i++) free(c[k].v[i]);
  }
  sleep_ms(300);
  nudge();
  sleep_ms(300);
  nudge();
  size_t after = rss_bytes();
  printf("%s: RSS %zu MiB before, %zu MiB with 256 MiB live, %zu MiB after freeing all\n", name,
         before / MiB, peak / MiB, after / MiB);
  CHECKF(peak >= before + 200 * MiB, "%s: RSS did not grow by the 256 MiB allocated (%zu -> %zu MiB)", name,
         before / MiB, peak / MiB);
  CHECKF(after <= before + (peak - before) / 2,
         "%s: after freeing 256 MiB and waiting 600 ms, RSS is %zu MiB (%zu MiB before, %zu MiB at the peak)",
         name, after / MiB, before / MiB, peak / MiB);
  for (int k = 0; k < 2; k++) free(c[k].v);
}

int main(void) {
  hk_require();
  nudge();
  phase("main thread", 0);
  phase("exited threads", 1);

  size_t before = rss_bytes();
  char *p = malloc(64 * MiB);
  REQUIRE(p);
  memset(p, 1, 64 * MiB);
  size_t peak = rss_bytes();
  char *q = realloc(p, MiB);
  REQUIRE(q);
  CHECK(q[0] == 1 && q[MiB - 1] == 1);
  size_t after = rss_bytes();
  printf("realloc 64 MiB -> 1 MiB: RSS %zu -> %zu -> %zu MiB\n", before / MiB, peak / MiB, after / MiB);
  CHECKF(after + 32 * MiB <= peak, "realloc(64 MiB block, 1 MiB) kept the tail resident (RSS %zu -> %zu MiB)",
         peak / MiB, after / MiB);
  free(q);
  return check_exit("purge");
}
