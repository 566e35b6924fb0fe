/* prodcons.c — a thread that only frees must not make memory grow.
 *
 * usage: prodcons [BLOCKS]   (default 3000000)
 *
 * Producer threads allocate blocks (16 B .. 2 KiB, sometimes up to 64 KiB)
 * and pass them through single-producer/single-consumer rings to consumer
 * threads that never allocate: they check and free. Every block is freed by
 * a thread other than its allocator, so the freed memory must flow back to
 * the producer's pages (mimalloc issue 1364: a free-only thread grew RSS 4x).
 * VmRSS and mapped_bytes after a quarter of the blocks are compared with the
 * values at the end: final <= 2 * early + 16 MiB.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MiB ((size_t)1 << 20)
#define RING 4096
#define PAIRS 2

struct ring {
  _Atomic(size_t) head; /* written by the consumer */
  char pad1[56];
  _Atomic(size_t) tail; /* written by the producer */
  char pad2[56];
  void *slot[RING];
};

static struct ring rings[PAIRS];
static long per_pair;
static _Atomic long produced;
static long quarter;
static size_t rss_q;
static hak_stats_t st_q;
static atomic_int measured;

static void *producer(void *arg) {
  struct ring *r = &rings[(intptr_t)arg];
  unsigned long long rs = 1000 + (unsigned long long)(intptr_t)arg;
  for (long i = 0; i < per_pair; i++) {
    size_t n = rng_below(&rs, 100) < 97 ? 16 + rng_below(&rs, 2033) : 2048 + rng_below(&rs, 62 * 1024);
    uint32_t *p = malloc(n);
    if (!p) {
      CHECKF(0, "malloc(%zu) failed", n);
      p = malloc(16);
      n = 16;
      REQUIRE(p);
    }
    p[0] = (uint32_t)n;
    p[1] = (uint32_t)((uintptr_t)p >> 4) ^ 0xA5A5A5A5u;
    ((unsigned char *)p)[n - 1] = (unsigned char)n;
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    while (t - atomic_load_explicit(&r->head, memory_order_acquire) >= RING) sched_yield();
    r->slot[t % RING] = p;
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    long done = atomic_fetch_add(&produced, 1) + 1;
    if (done == quarter && !atomic_exchange(&measured, 1)) {
      rss_q = rss_bytes();
      if (hk_stats_get) hk_stats_get(&st_q);
    }
  }
  return NULL;
}

static void *consumer(void *arg) {
  struct ring *r = &rings[(intptr_t)arg];
  for (long i = 0; i < per_pair; i++) {
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    while (atomic_load_explicit(&r->tail, memory_order_acquire) == h) sched_yield();
    uint32_t *p = r->slot[h % RING];
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    size_t n = p[0];
    int ok = n >= 16 && n <= 64 * 1024 && p[1] == ((uint32_t)((uintptr_t)p >> 4) ^ 0xA5A5A5A5u) &&
             ((unsigned char *)p)[n - 1] == (unsigned char)n;
    CHECKF(ok, "block %p corrupted in transit", (void *)p);
    free(p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  long blocks = argc > 1 ? atol(argv[1]) : 3000000;
  hk_require();
  per_pair = blocks / PAIRS;
  quarter = blocks / 4;
  pthread_t pt[PAIRS], ct[PAIRS];
  for (intptr_t i = 0; i < PAIRS; i++) {
    REQUIRE(pthread_create(&ct[i], NULL, consumer, (void *)i) == 0);
    REQUIRE(pthread_create(&pt[i], NULL, producer, (void *)i) == 0);
  }
  for (int i = 0; i < PAIRS; i++) {
    pthread_join(pt[i], NULL);
    pthread_join(ct[i], NULL);
  }
  size_t rss_end = rss_bytes();
  hak_stats_t st;
  memset(&st, 0, sizeof st);
  if (hk_stats_get) hk_stats_get(&st);
  printf("prodcons: %ld blocks; RSS %zu KiB at 1/4, %zu KiB at end; mapped %llu KiB -> %llu KiB\n", blocks,
         rss_q / 1024, rss_end / 1024, (unsigned long long)st_q.mapped_bytes / 1024,
         (unsigned long long)st.mapped_bytes / 1024);
  CHECKF(rss_end <= 2 * rss_q + 16 * MiB, "RSS grew from %zu KiB to %zu KiB", rss_q / 1024, rss_end / 1024);
  if (hk_stats_get) {
    CHECKF(st.mapped_bytes <= 2 * st_q.mapped_bytes + 16 * MiB, "mapped_bytes grew from %llu to %llu",
           (unsigned long long)st_q.mapped_bytes, (unsigned long long)st.mapped_bytes);
    CHECKF(st.invalid_frees == 0, "invalid_frees %llu", (unsigned long long)st.invalid_frees);
  }
  return check_exit("prodcons");
}
