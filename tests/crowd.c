/* crowd.c — many more threads than cores, for a bounded time.
 *
 * usage: crowd [MILLISECONDS]   (default 1500)
 *
 * 24 threads pinned to at most 2 CPUs for the given wall time: 8 producers
 * allocate (16 B .. 8 KiB mostly, some up to 1 MiB), fill and swap blocks
 * into 4096 shared slots, freeing what they get back; 8 consumers never
 * allocate: they take blocks out of the slots, check and free them; 8
 * churners run a few thousand mixed operations (and free blocks they take
 * out of the slots) and exit, and are started again until the time is up;
 * their pthread key destructor (run after hakmem's thread-exit hook)
 * allocates and frees. (Churners that leave blocks in the slots make memory
 * grow: tests/known/outlive_growth.c.) Every thread must make
 * progress (no thread starved or stuck behind a lock), every block must keep
 * its contents, and afterwards the heaps of exited threads must be gone
 * (heaps_live back to 1) and memory bounded (mapped_peak below 1.5 GiB,
 * mapped_bytes after hak_collect below 64 MiB). Linked with -lhakmem.
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
#include <time.h>

#include "check.h"
#include "hakmem.h"

#define MiB ((size_t)1 << 20)
#define NSLOTS 4096
#define NPROD 8
#define NCONS 8
#define NCHURN 8

static _Atomic(uintptr_t) slots[NSLOTS];
static atomic_int stop;
static atomic_long ops[NPROD + NCONS + NCHURN];
static atomic_long churn_threads, bad_blocks;
static pthread_key_t churn_key;

/* A block: its size in the first word, then a byte pattern. */
static void *make_block(unsigned long long *rs) {
  unsigned r = (unsigned)rng_below(rs, 1000);
  size_t n = r < 900 ? 16 + rng_below(rs, 8192) : r < 995 ? 8192 + rng_below(rs, 65536) : 65536 + rng_below(rs, MiB);
  unsigned char *p = malloc(n);
  if (p == NULL) return NULL;
  memcpy(p, &n, sizeof n);
  size_t upto = n - 1 < 256 ? n - 1 : 256; /* p[n - 1] is the tail tag */
  for (size_t i = sizeof n; i < upto; i++) p[i] = (unsigned char)(i ^ n);
  p[n - 1] = (unsigned char)(n * 7);
  return p;
}

static void check_free(void *v) {
  unsigned char *p = v;
  size_t n;
  memcpy(&n, p, sizeof n);
  int ok = n >= 16 && n <= 65536 + MiB && p[n - 1] == (unsigned char)(n * 7);
  size_t upto = n - 1 < 256 ? n - 1 : 256; /* p[n - 1] is the tail tag */
  for (size_t i = sizeof n; ok && i < upto; i++) ok = p[i] == (unsigned char)(i ^ n);
  if (!ok) atomic_fetch_add(&bad_blocks, 1);
  free(p);
}

static void *producer(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned long long rs = (unsigned long long)id * 6151 + 3;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    void *p = make_block(&rs);
    if (p == NULL) {
      CHECKF(0, "producer %d: malloc failed", id);
      break;
    }
    void *old = (void *)atomic_exchange(&slots[rng_below(&rs, NSLOTS)], (uintptr_t)p);
    if (old) check_free(old);
    atomic_fetch_add_explicit(&ops[id], 1, memory_order_relaxed);
    if ((rng_next(&rs) & 63) == 0) sched_yield();
  }
  return NULL;
}

static void *consumer(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned long long rs = (unsigned long long)id * 7877 + 11;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    void *p = (void *)atomic_exchange(&slots[rng_below(&rs, NSLOTS)], 0);
    if (p) check_free(p);
    atomic_fetch_add_explicit(&ops[id], 1, memory_order_relaxed);
    if ((rng_next(&rs) & 31) == 0) sched_yield();
  }
  return NULL;
}

static void churn_destructor(void *v) {
  free(v);
  void *a = malloc(300), *b = calloc(10, 1000);
  free(a);
  free(b);
}

static void *churner(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned long long rs = (unsigned long long)atomic_fetch_add(&churn_threads, 1) * 104729 + 5;
  void *mine[16] = {0};
  pthread_setspecific(churn_key, malloc(64));
  for (int i = 0; i < 3000 && !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
    int k = (int)rng_below(&rs, 16);
    if (mine[k]) check_free(mine[k]);
    mine[k] = make_block(&rs);
    if ((i & 7) == 0) {
      /* take a block of another thread and free it (blocks of a churner
       * that outlive it: known/outlive_growth.c) */
      void *other = (void *)atomic_exchange(&slots[rng_below(&rs, NSLOTS)], 0);
      if (other) check_free(other);
    }
    atomic_fetch_add_explicit(&ops[id], 1, memory_order_relaxed);
  }
  for (int k = 0; k < 16; k++)
    if (mine[k]) check_free(mine[k]);
  return NULL;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char **argv) {
  long ms = argc > 1 ? atol(argv[1]) : 1500;
  hk_require();
  /* at most two CPUs, whatever the machine has */
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 2) {
    cpu_set_t two;
    CPU_ZERO(&two);
    for (int c = 0, n = 0; c < CPU_SETSIZE && n < 2; c++)
      if (CPU_ISSET(c, &set)) {
        CPU_SET(c, &two);
        n++;
      }
    REQUIRE(sched_setaffinity(0, sizeof two, &two) == 0);
  }
  REQUIRE(pthread_key_create(&churn_key, churn_destructor) == 0);
  hak_stats_t s0;
  hak_stats_get(&s0);

  pthread_t t[NPROD + NCONS + NCHURN];
  for (intptr_t i = 0; i < NPROD; i++) REQUIRE(pthread_create(&t[i], NULL, producer, (void *)i) == 0);
  for (intptr_t i = NPROD; i < NPROD + NCONS; i++) REQUIRE(pthread_create(&t[i], NULL, consumer, (void *)i) == 0);
  for (intptr_t i = NPROD + NCONS; i < NPROD + NCONS + NCHURN; i++)
    REQUIRE(pthread_create(&t[i], NULL, churner, (void *)i) == 0);
  long end = now_ms() + ms;
  /* restart churners as they finish, until the time is up */
  while (now_ms() < end) {
    for (int i = NPROD + NCONS; i < NPROD + NCONS + NCHURN; i++) {
      if (pthread_tryjoin_np(t[i], NULL) == 0)
        REQUIRE(pthread_create(&t[i], NULL, churner, (void *)(intptr_t)i) == 0);
    }
    struct timespec nap = {0, 2 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < NPROD + NCONS + NCHURN; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < NSLOTS; i++) {
    void *p = (void *)atomic_exchange(&slots[i], 0);
    if (p) check_free(p);
  }

  long total = 0, least = -1;
  for (int i = 0; i < NPROD + NCONS + NCHURN; i++) {
    long n = atomic_load(&ops[i]);
    total += n;
    if (least < 0 || n < least) least = n;
    CHECKF(n > 0, "thread %d made no progress in %ld ms", i, ms);
  }
  CHECKF(atomic_load(&bad_blocks) == 0, "%ld blocks damaged", atomic_load(&bad_blocks));
  hak_collect();
  hak_stats_t s1;
  hak_stats_get(&s1);
  printf("crowd: 24 threads on %d CPUs for %ld ms: %ld operations (least per thread %ld), %ld churner threads; "
         "heaps_live %llu, mapped_peak %llu MiB, mapped after hak_collect %llu MiB\n",
         CPU_COUNT(&set) > 2 ? 2 : CPU_COUNT(&set), ms, total, least, atomic_load(&churn_threads),
         (unsigned long long)s1.heaps_live, (unsigned long long)(s1.mapped_peak / MiB),
         (unsigned long long)(s1.mapped_bytes / MiB));
  CHECKF(s1.heaps_live == s0.heaps_live, "heaps_live %llu after every thread exited, %llu before",
         (unsigned long long)s1.heaps_live, (unsigned long long)s0.heaps_live);
  CHECKF(s1.mapped_peak < 1536 * MiB, "mapped_peak %llu MiB", (unsigned long long)(s1.mapped_peak / MiB));
  CHECKF(s1.mapped_bytes < 64 * MiB, "%llu MiB still mapped after hak_collect with nothing live",
         (unsigned long long)(s1.mapped_bytes / MiB));
  return check_exit("crowd");
}
