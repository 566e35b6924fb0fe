/* stats.c — the memory census adds up (hak_stats_get, hak_stats_classes).
 *
 * usage: stats
 *
 * Allocates known numbers of blocks in five size classes and three blocks
 * above 512 KiB, then checks: each class holds at least the blocks allocated
 * in it; the classes' live bytes plus the large blocks' make live_bytes; no
 * class and no total has less committed than live; resident_bytes is read;
 * after freeing, the classes drop back to where they were.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define NCLASS 128
static const struct { size_t size, count; } plan[] = {{48, 1000}, {3000, 500}, {40 << 10, 50}, {200 << 10, 10}};
#define HUGE_SIZE ((size_t)2 << 20)
#define HUGE_COUNT 3

static uint64_t class_sum(const hak_class_stats_t *c, int n) {
  uint64_t s = 0;
  for (int i = 0; i < n; i++) s += c[i].live_blocks * c[i].block_size;
  return s;
}

static int class_of(const hak_class_stats_t *c, int n, size_t size) {
  int best = -1;
  for (int i = 0; i < n; i++)
    if (c[i].block_size >= size && (best < 0 || c[i].block_size < c[best].block_size)) best = i;
  return best;
}

int main(void) {
  hk_require();
  hak_class_stats_t before[NCLASS], during[NCLASS], after[NCLASS];
  int n = hak_stats_classes(before, NCLASS);
  REQUIRE(n > 8 && n <= NCLASS);

  void *blocks[4][1000], *huge[HUGE_COUNT];
  for (size_t k = 0; k < 4; k++)
    for (size_t i = 0; i < plan[k].count; i++) {
      blocks[k][i] = malloc(plan[k].size);
      REQUIRE(blocks[k][i] && hk_owns(blocks[k][i]));
      memset(blocks[k][i], 1, plan[k].size);
    }
  for (int i = 0; i < HUGE_COUNT; i++) {
    huge[i] = malloc(HUGE_SIZE);
    REQUIRE(huge[i]);
    memset(huge[i], 2, HUGE_SIZE);
  }

  hak_stats_t st;
  hak_stats_get(&st);
  REQUIRE(hak_stats_classes(during, NCLASS) == n);
  for (size_t k = 0; k < 4; k++) {
    int c = class_of(during, n, plan[k].size);
    REQUIRE(c > 0);
    CHECKF(during[c].live_blocks >= before[c].live_blocks + plan[k].count,
           "class %llu: %llu live blocks, want >= %llu + %zu", (unsigned long long)during[c].block_size,
           (unsigned long long)during[c].live_blocks, (unsigned long long)before[c].live_blocks, plan[k].count);
    CHECKF(during[c].pages >= 1, "class %llu: no pages", (unsigned long long)during[c].block_size);
  }
  for (int i = 0; i < n; i++)
    CHECKF(during[i].committed_bytes >= during[i].live_blocks * during[i].block_size,
           "class %llu: committed %llu < live %llu", (unsigned long long)during[i].block_size,
           (unsigned long long)during[i].committed_bytes,
           (unsigned long long)(during[i].live_blocks * during[i].block_size));
  uint64_t in_classes = class_sum(during, n);
  CHECKF(st.live_bytes >= in_classes, "live_bytes %llu < the classes' %llu", (unsigned long long)st.live_bytes,
         (unsigned long long)in_classes);
  uint64_t large = st.live_bytes - in_classes;
  CHECKF(large >= HUGE_COUNT * HUGE_SIZE && large <= HUGE_COUNT * (HUGE_SIZE + HUGE_SIZE / 4),
         "live bytes outside the classes %llu, want the %d large blocks (%zu each)", (unsigned long long)large,
         HUGE_COUNT, HUGE_SIZE);
  CHECKF(st.committed_bytes >= st.live_bytes, "committed %llu < live %llu", (unsigned long long)st.committed_bytes,
         (unsigned long long)st.live_bytes);
  CHECKF(st.resident_bytes >= st.live_bytes / 2 && st.resident_bytes > 0, "resident_bytes %llu",
         (unsigned long long)st.resident_bytes);
  printf("live %llu committed %llu resident %llu (bytes)\n", (unsigned long long)st.live_bytes,
         (unsigned long long)st.committed_bytes, (unsigned long long)st.resident_bytes);

  for (size_t k = 0; k < 4; k++)
    for (size_t i = 0; i < plan[k].count; i++) free(blocks[k][i]);
  for (int i = 0; i < HUGE_COUNT; i++) free(huge[i]);
  REQUIRE(hak_stats_classes(after, NCLASS) == n);
  for (size_t k = 0; k < 4; k++) {
    int c = class_of(after, n, plan[k].size);
    CHECKF(after[c].live_blocks <= before[c].live_blocks, "class %llu: %llu live blocks after freeing, %llu before",
           (unsigned long long)after[c].block_size, (unsigned long long)after[c].live_blocks,
           (unsigned long long)before[c].live_blocks);
  }
  hak_stats_t st2;
  hak_stats_get(&st2);
  CHECKF(st2.live_bytes + HUGE_COUNT * HUGE_SIZE <= st.live_bytes, "live_bytes %llu after freeing, %llu before",
         (unsigned long long)st2.live_bytes, (unsigned long long)st.live_bytes);
  return check_exit("stats");
}
