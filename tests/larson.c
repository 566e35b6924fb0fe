/* larson.c — a server-like workload after Larson and Krishnan: most blocks
 * are freed by a thread other than the one that allocated them, often after
 * that thread has exited.
 *
 * usage: larson THREADS ROUNDS SLOTS OPS SEED
 *
 * THREADS lanes each hold SLOTS live blocks. Every round starts one new
 * thread per lane, which takes over its lane's blocks from the previous
 * round's thread (exited by now: its segments were abandoned) and replaces OPS
 * random ones: it checks the old block and frees it, then allocates a block
 * of random size (mostly 8..1024 bytes, sometimes up to 16 KiB) and writes
 * its pattern. One replacement in 32 instead swaps the block through a shared
 * mailbox, so blocks also pass between lanes whose threads are running.
 * Round 0 inherits blocks the main thread allocated.
 *
 * Checks: each block's size word, cookie and pattern before it is freed;
 * hak_owns on a sample of new blocks; no blow-up (Larson's point: memory
 * freed by other threads must be reused): segments and mapped_bytes after the
 * last round at most twice the values after a quarter of the rounds, plus
 * slack (the first rounds grow: round 0 frees main's blocks, and segments
 * abandoned by one round are adopted by the next only as it needs pages);
 * invalid_frees == 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define MiB ((size_t)1 << 20)
#define NBOX 256

typedef struct lane_s {
  void **p;
  long slots, ops, round;
  unsigned long long seed;
} lane_t;

static _Atomic(uintptr_t) mailbox[NBOX];

/* Block layout: word 0 = size, word 1 = cookie of (address, size); then
 * pattern bytes up to offset 256, and the size in the last byte (from 17
 * bytes on). Sizes are at least 16. */
static uint64_t cookie(const void *p, size_t size) {
  uint64_t x = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull ^ (uint64_t)size;
  return x ^ (x >> 31);
}

static void *block_new(unsigned long long *rs) {
  size_t size = rng_below(rs, 64) ? 8 + rng_below(rs, 1017) : 1024 + rng_below(rs, 15 * 1024);
  if (size < 16) size = 16;
  uint64_t *w = malloc(size);
  REQUIRE(w != NULL);
  if (rng_below(rs, 256) == 0) CHECKF(hk_owned(w), "%p not hakmem's", (void *)w);
  w[0] = size;
  w[1] = cookie(w, size);
  unsigned char *b = (unsigned char *)w;
  size_t n = size - 1 < 256 ? size - 1 : 256;
  for (size_t i = 16; i < n; i++) b[i] = (unsigned char)(w[1] >> (i % 8 * 8)) ^ (unsigned char)i;
  if (size > 16) b[size - 1] = (unsigned char)size;
  return w;
}

static void block_free(void *p) {
  if (p == NULL) return;
  uint64_t *w = p;
  size_t size = (size_t)w[0];
  int ok = size >= 16 && size <= 16 * 1024 && w[1] == cookie(p, size);
  unsigned char *b = p;
  size_t n = ok ? (size - 1 < 256 ? size - 1 : 256) : 0;
  for (size_t i = 16; ok && i < n; i++) ok = b[i] == ((unsigned char)(w[1] >> (i % 8 * 8)) ^ (unsigned char)i);
  ok = ok && (size == 16 || b[size - 1] == (unsigned char)size);
  CHECKF(ok, "block %p corrupt (size word %zu)", p, size);
  free(p);
}

static void *lane_thread(void *arg) {
  lane_t *l = arg;
  unsigned long long rs = l->seed * 1000003ull + (unsigned long long)l->round;
  for (long k = 0; k < l->ops; k++) {
    long i = (long)rng_below(&rs, (unsigned long long)l->slots);
    if (rng_below(&rs, 32) == 0) { /* swap with another lane's block */
      void *got = (void *)atomic_exchange(&mailbox[rng_below(&rs, NBOX)], (uintptr_t)l->p[i]);
      l->p[i] = got ? got : block_new(&rs);
      continue;
    }
    block_free(l->p[i]);
    l->p[i] = block_new(&rs);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s THREADS ROUNDS SLOTS OPS SEED\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[1]), rounds = atoi(argv[2]);
  long slots = atol(argv[3]), ops = atol(argv[4]);
  unsigned long long seed = strtoull(argv[5], NULL, 10);
  if (threads < 1 || rounds < 1 || slots < 1 || ops < 0) return 2;
  hk_require();
  lane_t *lanes = calloc((size_t)threads, sizeof *lanes);
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  REQUIRE(lanes && tids);
  for (int t = 0; t < threads; t++) {
    lanes[t].slots = slots;
    lanes[t].ops = ops;
    lanes[t].seed = seed * 7919 + (unsigned long long)t;
    lanes[t].p = calloc((size_t)slots, sizeof(void *));
    REQUIRE(lanes[t].p);
    unsigned long long rs = lanes[t].seed;
    for (long i = 0; i < slots; i++) lanes[t].p[i] = block_new(&rs);
  }
  hak_stats_t early, last; /* after round max(1, ROUNDS/4), after the last */
  int early_round = rounds / 4 > 1 ? rounds / 4 : 1;
  memset(&early, 0, sizeof early);
  memset(&last, 0, sizeof last);
  for (int r = 0; r < rounds && check_failures() == 0; r++) {
    for (int t = 0; t < threads; t++) {
      lanes[t].round = r;
      REQUIRE(pthread_create(&tids[t], NULL, lane_thread, &lanes[t]) == 0);
    }
    for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
    if (hk_stats_get && r + 1 == early_round) hk_stats_get(&early);
    if (hk_stats_get) hk_stats_get(&last);
  }
  size_t live = 0, rss = rss_bytes();
  for (int t = 0; t < threads; t++)
    for (long i = 0; i < slots; i++) live += *(uint64_t *)lanes[t].p[i];
  for (int b = 0; b < NBOX; b++)
    if (atomic_load(&mailbox[b])) live += *(uint64_t *)atomic_load(&mailbox[b]);
  for (int t = 0; t < threads; t++) {
    for (long i = 0; i < slots; i++) block_free(lanes[t].p[i]);
    free(lanes[t].p);
  }
  for (int b = 0; b < NBOX; b++) block_free((void *)atomic_exchange(&mailbox[b], 0));
  free(lanes);
  free(tids);
  if (hk_stats_get) {
    printf("larson: %d threads x %d rounds x %ld ops; segments %llu after round %d, %llu after the last; "
           "mapped %llu -> %llu KiB (RSS %zu KiB) for %zu KiB live; %llu segments abandoned, %llu reclaimed\n",
           threads, rounds, ops, (unsigned long long)early.segments, early_round, (unsigned long long)last.segments,
           (unsigned long long)early.mapped_bytes / 1024, (unsigned long long)last.mapped_bytes / 1024,
           rss / 1024, live / 1024, (unsigned long long)last.segments_abandoned, (unsigned long long)last.segments_reclaimed);
    CHECKF(last.segments <= 2 * early.segments + 4, "segments grew from %llu to %llu",
           (unsigned long long)early.segments, (unsigned long long)last.segments);
    CHECKF(last.mapped_bytes <= 2 * early.mapped_bytes + 16 * MiB, "mapped_bytes grew from %llu to %llu",
           (unsigned long long)early.mapped_bytes, (unsigned long long)last.mapped_bytes);
    hak_stats_t end;
    hk_stats_get(&end);
    CHECKF(end.invalid_frees == 0, "invalid_frees %llu", (unsigned long long)end.invalid_frees);
  }
  return check_exit("larson");
}
