/* stress.c — multi-threaded allocation stress with cross-thread frees.
 *
 * usage: stress THREADS ITERATIONS SEED [ROUNDS]
 *
 * Each round starts THREADS threads. A thread does ITERATIONS steps (thread i
 * of a round does a share proportional to i+1, so threads exit at different
 * times): it allocates blocks of random sizes (mostly small, some up to
 * 256 KiB, a few up to 4 MiB) through malloc, calloc, realloc, aligned_alloc
 * and posix_memalign, writes a pattern derived from the block's address and
 * size, and either keeps, frees, reallocates or hands blocks to other threads
 * through a shared array of slots. Whoever takes a block out of a slot checks
 * its pattern and frees it or keeps it: most frees are cross-thread, and
 * blocks outlive the thread (and the heap) that allocated them, since a round's
 * threads exit with blocks still in the slots, to be freed by the next round's
 * threads. Threads also call hak_collect() now and then. Deterministic per
 * SEED (up to thread interleaving).
 *
 * Same source for the linked binary and the one run under LD_PRELOAD.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define NSLOTS 1024
#define LOCAL_MAX 512

static _Atomic(uintptr_t) slots[NSLOTS];
static long iterations;
static int nthreads;
static unsigned long long seed;

/* Block layout: word 0 = size, word 1 = cookie of (address, size), then
 * pattern bytes. Sizes are at least 16. */
static inline uint64_t cookie(const void *p, size_t size) {
  uint64_t x = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull ^ (uint64_t)size * 0xC2B2AE3D27D4EB4Full;
  return x ^ (x >> 29);
}
static inline unsigned char pbyte(uint64_t c, size_t i) { return (unsigned char)(c >> ((i % 7) * 8)) ^ (unsigned char)i; }

/* Blocks over 64 KiB: pattern only on the first and last 4 KiB and one byte
 * per 4 KiB page (enough to catch overlap and lost data). */
static inline int touched(size_t i, size_t size) {
  return size <= 64 * KiB || i < 4096 || i + 4096 >= size || i % 4096 == 17;
}

static void init_block(void *p, size_t size) {
  uint64_t *w = p;
  uint64_t c = cookie(p, size);
  w[0] = size;
  w[1] = c;
  unsigned char *b = p;
  if (size <= 64 * KiB) {
    for (size_t i = 16; i < size; i++) b[i] = pbyte(c, i);
  } else {
    for (size_t i = 16; i < 4096; i++) b[i] = pbyte(c, i);
    for (size_t i = 4096 + 17; i + 4096 < size; i += 4096) b[i] = pbyte(c, i);
    for (size_t i = size - 4096; i < size; i++) b[i] = pbyte(c, i);
  }
}

/* Verify a block; returns its size (0 if corrupt, after reporting). */
static size_t check_block(void *p, const char *who) {
  uint64_t *w = p;
  size_t size = (size_t)w[0];
  uint64_t c = cookie(p, size);
  if (size < 16 || size > 8 * MiB || w[1] != c) {
    CHECKF(0, "%s: block %p header corrupt (size word %#zx, cookie %#llx want %#llx)", who, p, size,
           (unsigned long long)w[1], (unsigned long long)c);
    return 0;
  }
  const unsigned char *b = p;
  for (size_t i = 16; i < size; i++) {
    if (!touched(i, size)) {
      size_t next = (i / 4096) * 4096 + 4096 + 17;
      if (next + 4096 >= size) next = size - 4096;
      if (next > i) i = next - 1;
      continue;
    }
    if (b[i] != pbyte(c, i)) {
      CHECKF(0, "%s: block %p (size %zu) corrupt at offset %zu: %#x want %#x", who, p, size, i, b[i],
             pbyte(c, i));
      return 0;
    }
  }
  return size;
}

static size_t pick_size(unsigned long long *rs) {
  unsigned r = (unsigned)rng_below(rs, 1000);
  if (r < 850) return 16 + rng_below(rs, 1009);            /* small */
  if (r < 990) return 1024 + rng_below(rs, 255 * KiB);      /* up to 256 KiB */
  if (r < 998) return 256 * KiB + rng_below(rs, 768 * KiB); /* up to 1 MiB */
  return MiB + rng_below(rs, 3 * MiB);                      /* up to 4 MiB */
}

static void *alloc_block(unsigned long long *rs) {
  size_t size = pick_size(rs);
  void *p = NULL;
  size_t align = 16;
  switch (rng_below(rs, 10)) {
  case 0: {
    p = calloc(1, size);
    if (p) {
      const unsigned char *b = p;
      size_t lim = size < 4096 ? size : 4096;
      size_t nz = 0;
      for (size_t i = 0; i < lim; i++) nz += b[i] != 0;
      nz += b[size - 1] != 0;
      CHECKF(nz == 0, "calloc(1, %zu) = %p not zeroed", size, p);
    }
    break;
  }
  case 1: align = (size_t)16 << rng_below(rs, 9); p = aligned_alloc(align, size); break;
  case 2: align = (size_t)16 << rng_below(rs, 7); if (posix_memalign(&p, align, size)) p = NULL; break;
  case 3: p = realloc(NULL, size); break;
  default: p = malloc(size); break;
  }
  CHECKF(p != NULL, "allocation of %zu bytes failed (errno %d)", size, errno);
  if (!p) return NULL;
  CHECKF(((uintptr_t)p & (align - 1)) == 0, "%p not %zu-aligned", p, align);
  if (hk_owns) CHECKF(hk_owns(p), "%p (size %zu) not owned by hakmem", p, size);
  if ((rng_below(rs, 16)) == 0) CHECKF(malloc_usable_size(p) >= size, "usable_size %zu < %zu", malloc_usable_size(p), size);
  init_block(p, size);
  return p;
}

static void free_block(void *p, const char *who) {
  if (!p) return;
  check_block(p, who);
  free(p);
}

/* realloc keeps the prefix; re-initialise for the new address/size */
static void *realloc_block(void *p, unsigned long long *rs) {
  size_t old = check_block(p, "realloc-src");
  size_t size = pick_size(rs);
  /* remember a few bytes of the old pattern to check they moved */
  uint64_t c = cookie(p, old);
  void *q = realloc(p, size);
  CHECKF(q != NULL, "realloc(%p, %zu) failed", p, size);
  if (!q) {
    free(p);
    return NULL;
  }
  if (old) {
    size_t keep = old < size ? old : size;
    const unsigned char *b = q;
    size_t lim = keep < 4096 ? keep : 4096;
    for (size_t i = 16; i < lim; i++)
      if (b[i] != pbyte(c, i)) {
        CHECKF(0, "realloc %zu -> %zu: byte %zu not preserved", old, size, i);
        break;
      }
  }
  init_block(q, size);
  return q;
}

struct tstate {
  int id;
  int round;
  long iters;
};

static void *worker(void *arg) {
  struct tstate *ts = arg;
  unsigned long long rs = seed * 1000003ull + (unsigned long long)ts->round * 7919ull + (unsigned long long)ts->id + 1;
  void **local = malloc(LOCAL_MAX * sizeof *local);
  REQUIRE(local);
  int nlocal = 0;
  for (long it = 0; it < ts->iters; it++) {
    /* now and then give memory back while the other threads keep going */
    if (hk_collect && rng_below(&rs, 5000) == 0) hk_collect();
    unsigned r = (unsigned)rng_below(&rs, 100);
    if (r < 45 || nlocal == 0) { /* allocate and keep */
      void *p = alloc_block(&rs);
      if (!p) continue;
      if (nlocal == LOCAL_MAX) {
        int k = (int)rng_below(&rs, LOCAL_MAX);
        free_block(local[k], "local-evict");
        local[k] = p;
      } else {
        local[nlocal++] = p;
      }
    } else if (r < 62) { /* free one of ours */
      int k = (int)rng_below(&rs, (unsigned long long)nlocal);
      free_block(local[k], "local-free");
      local[k] = local[--nlocal];
    } else if (r < 70) { /* realloc one of ours */
      int k = (int)rng_below(&rs, (unsigned long long)nlocal);
      void *q = realloc_block(local[k], &rs);
      if (q) local[k] = q;
      else local[k] = local[--nlocal];
    } else { /* swap with a shared slot: the block now belongs to whoever takes it */
      int k = (int)rng_below(&rs, (unsigned long long)nlocal);
      size_t s = rng_below(&rs, NSLOTS);
      void *got = (void *)atomic_exchange(&slots[s], (uintptr_t)local[k]);
      if (got && rng_below(&rs, 4) == 0) { /* keep it: freed later by us, maybe after a realloc */
        check_block(got, "slot-keep");
        local[k] = got;
      } else {
        local[k] = local[--nlocal];
        free_block(got, "slot-free");
      }
    }
  }
  /* Exit: free half of what we hold, leave the rest in the shared slots
   * (those outlive this thread and are freed by later threads). */
  for (int k = 0; k < nlocal; k++) {
    if (k % 2) {
      free_block(local[k], "exit-free");
    } else {
      void *got = (void *)atomic_exchange(&slots[rng_below(&rs, NSLOTS)], (uintptr_t)local[k]);
      free_block(got, "exit-slot-free");
    }
  }
  free(local);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s THREADS ITERATIONS SEED [ROUNDS]\n", argv[0]);
    return 2;
  }
  nthreads = atoi(argv[1]);
  iterations = atol(argv[2]);
  seed = strtoull(argv[3], NULL, 10);
  int rounds = argc > 4 ? atoi(argv[4]) : 10;
  if (nthreads < 1 || iterations < 1 || rounds < 1) return 2;
  hk_require();
  void *probe = malloc(10);
  if (hk_owns) REQUIRE(hk_owns(probe));
  free(probe);

  pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
  struct tstate *ts = calloc((size_t)nthreads, sizeof *ts);
  REQUIRE(tids && ts);
  for (int round = 0; round < rounds; round++) {
    for (int i = 0; i < nthreads; i++) {
      ts[i].id = i;
      ts[i].round = round;
      ts[i].iters = iterations * (i + 1) / nthreads + 1;
      REQUIRE(pthread_create(&tids[i], NULL, worker, &ts[i]) == 0);
    }
    /* threads finish at different times (their shares differ); some rounds
     * the main thread also drains slots */
    for (int i = 0; i < nthreads; i++) pthread_join(tids[i], NULL);
    if (round % 3 == 2) {
      for (int s = 0; s < NSLOTS; s += 3) free_block((void *)atomic_exchange(&slots[s], 0), "main-drain");
    }
  }
  for (int s = 0; s < NSLOTS; s++) free_block((void *)atomic_exchange(&slots[s], 0), "final-drain");
  free(tids);
  free(ts);
  if (hk_stats_get) {
    hak_stats_t st;
    hk_stats_get(&st);
    CHECKF(st.invalid_frees == 0, "invalid_frees = %llu", (unsigned long long)st.invalid_frees);
    printf("stress: heaps_created %llu, segments_abandoned %llu, segments_reclaimed %llu, segments %llu\n",
           (unsigned long long)st.heaps_created, (unsigned long long)st.segments_abandoned,
           (unsigned long long)st.segments_reclaimed, (unsigned long long)st.segments);
  }
  return check_exit("stress");
}
