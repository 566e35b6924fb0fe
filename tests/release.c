/* release.c — freed memory goes back to the OS, also when the program stops
 * calling the allocator, and nothing stays resident by accident.
 *
 * usage: release [SECTION...]   (tests/run runs it under the balanced and the
 *                                lean profile; each section runs in a child
 *                                process so RSS figures do not mix)
 *
 * Each section allocates and touches memory, frees it in some pattern, then
 * sleeps without calling the allocator at all (the purge thread's job) and
 * checks VmRSS is back near where it started:
 *   subpage    64 MiB of 256-byte blocks, one block kept per 64 KiB page:
 *              the free OS pages inside pages still in use go back; calloc
 *              on re-used purged memory is zero; contents survive
 *   bigblocks  64 MiB of 48 KiB blocks (medium pages), every other freed:
 *              the free blocks' OS pages go back while their pages live
 *   midblocks  64 MiB of 5000-byte blocks (medium pages, release units of two
 *              blocks), three of every four freed: the free runs go back
 *   pages      64 MiB of 1 KiB blocks, one kept per segment: whole free
 *              pages next to a few live blocks go back
 *   segcache   empty segments parked in the segment cache decay
 *   largecache a freed 60 MiB block in the large-block cache decays
 *   idlebias   a thread frees ten 300 KiB blocks and idles, alive: the page
 *              it keeps for the class does not keep them resident
 *   freeonly   a thread allocates 48 MiB and exits; a thread that never
 *              allocates frees it all: the segments go back
 *   trim       the same, but the blocks are freed by the main thread while a
 *              second exited thread's segments sit abandoned: malloc_trim(0)
 *              gives back every free page
 *   leanping   (lean) malloc(3000)/free ping-pong: no madvise per operation
 *   churn      a 16 MiB buffer freed and taken again every 2.5 decay times:
 *              lean: the first re-takes miss the expired cache (a regret),
 *              the caches' decay stretches and the rest hit; balanced keeps
 *              its decay (every re-take misses); once the program stops, the
 *              cache goes back
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define MiB ((size_t)1 << 20)
#define SETTLE_MS 700 /* several decay periods of balanced (100 ms) */

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {}
}

static double mib(size_t b) { return (double)b / (double)MiB; }

/* RSS must come back within `slack` of `base` after the sleep; `freed` is
 * what the section gave back (for the message). */
static void expect_back(const char *what, size_t base, size_t peak, size_t slack) {
  sleep_ms(SETTLE_MS);
  size_t now = rss_bytes();
  printf("%s: base %.1f MiB, peak %.1f MiB, after %d ms idle %.1f MiB\n", what, mib(base), mib(peak), SETTLE_MS,
         mib(now));
  CHECKF(now <= base + slack, "%s: RSS %.1f MiB after idling, want <= %.1f MiB (base %.1f + %.1f)", what, mib(now),
         mib(base + slack), mib(base), mib(slack));
}

/* n blocks of size bytes, each filled with byte (an array the caller frees). */
static char **alloc_filled(size_t n, size_t size, int byte) {
  char **v = malloc(n * sizeof *v);
  REQUIRE(v);
  for (size_t i = 0; i < n; i++) {
    v[i] = malloc(size);
    REQUIRE(v[i] && hk_owned(v[i]));
    memset(v[i], byte, size);
  }
  return v;
}

static void sec_subpage(void) {
  size_t n = 64 * MiB / 256;
  char **v = malloc(n * sizeof *v);
  REQUIRE(v);
  size_t base = rss_bytes();
  for (size_t i = 0; i < n; i++) {
    v[i] = malloc(256);
    REQUIRE(v[i] && hk_owned(v[i]));
    memset(v[i], (int)(i & 0xff), 256);
  }
  size_t peak = rss_bytes();
  /* keep the first block of each 64 KiB page */
  for (size_t i = 0; i < n; i++)
    if (((uintptr_t)v[i] & 0xffff) >= 256) { free(v[i]); v[i] = NULL; }
  expect_back("subpage", base, peak, 12 * MiB);
  for (size_t i = 0; i < n; i++)
    if (v[i]) CHECKF(v[i][0] == (char)(i & 0xff) && v[i][255] == (char)(i & 0xff), "kept block %zu changed", i);
  /* purged memory comes back zero through calloc, and usable */
  size_t nonzero = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i]) continue;
    unsigned char *p = calloc(1, 256);
    REQUIRE(p);
    for (int k = 0; k < 256; k++) nonzero += p[k] != 0;
    memset(p, 0x5a, 256);
    v[i] = (char *)p;
  }
  CHECKF(nonzero == 0, "calloc returned %zu non-zero bytes on re-used memory", nonzero);
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void sec_bigblocks(void) {
  size_t bs = 48 << 10, n = 64 * MiB / bs;
  char *v[64 * 1024 * 1024 / (48 << 10) + 1];
  size_t base = rss_bytes();
  for (size_t i = 0; i < n; i++) {
    v[i] = malloc(bs);
    REQUIRE(v[i]);
    memset(v[i], 7, bs);
  }
  size_t peak = rss_bytes();
  for (size_t i = 0; i < n; i += 2) { free(v[i]); v[i] = NULL; }
  expect_back("bigblocks", base, peak, 32 * MiB + 4 * MiB);
  for (size_t i = 1; i < n; i += 2) CHECKF(v[i][0] == 7 && v[i][bs - 1] == 7, "live block %zu changed", i);
  for (size_t i = 0; i < n; i++) free(v[i]);
}

/* 5000-byte blocks live in medium pages, whose release units are runs of two
 * blocks: with three of every four freed, every other run is free. */
static void sec_midblocks(void) {
  size_t bs = 5000, n = 64 * MiB / bs;
  char **v = alloc_filled(n, bs, 3);
  size_t base_guess = rss_bytes() - n * bs;
  size_t peak = rss_bytes();
  for (size_t i = 0; i < n; i++)
    if (i % 4 != 0) { free(v[i]); v[i] = NULL; }
  /* live 16 MiB; 24 MiB freed in runs next to a live block; the free runs
   * (24 MiB) hold ~14 MiB of whole OS pages: at least 12 MiB must go back */
  expect_back("midblocks", base_guess, peak, 64 * MiB - 12 * MiB);
  for (size_t i = 0; i < n; i += 4)
    for (size_t k = 0; k < bs; k += 999) CHECKF(v[i][k] == 3, "midblocks: block %zu changed", i);
  void *z = calloc(1, bs); /* from a re-attached, purged run: zero */
  REQUIRE(z);
  size_t nonzero = 0;
  for (size_t k = 0; k < bs; k++) nonzero += ((unsigned char *)z)[k] != 0;
  CHECKF(nonzero == 0, "midblocks: calloc returned %zu non-zero bytes", nonzero);
  free(z);
  for (size_t i = 0; i < n; i += 4) free(v[i]);
  free(v);
}

static void sec_pages(void) {
  size_t n = 64 * MiB / 1024;
  size_t base = rss_bytes();
  char **v = alloc_filled(n, 1024, 3);
  size_t peak = rss_bytes();
  uintptr_t last_seg = 0;
  for (size_t i = 0; i < n; i++) {
    uintptr_t seg = (uintptr_t)v[i] >> 22;
    if (seg != last_seg) { last_seg = seg; continue; } /* one live block per segment */
    free(v[i]);
    v[i] = NULL;
  }
  expect_back("pages", base, peak, 6 * MiB);
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void sec_segcache(void) {
  size_t n = 24 * MiB / 2048;
  size_t base = rss_bytes();
  char **v = alloc_filled(n, 2048, 1);
  size_t peak = rss_bytes();
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
  expect_back("segcache", base, peak, 4 * MiB);
}

static void sec_largecache(void) {
  size_t base = rss_bytes();
  char *p = malloc(60 * MiB);
  REQUIRE(p && hk_owned(p));
  memset(p, 9, 60 * MiB);
  size_t peak = rss_bytes();
  free(p);
  expect_back("largecache", base, peak, 4 * MiB);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;

static void set_stage(int s) {
  pthread_mutex_lock(&mu);
  stage = s;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}
static void wait_stage(int s) {
  pthread_mutex_lock(&mu);
  while (stage < s) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static void *idle_thread(void *arg) {
  (void)arg;
  char *v[10];
  for (int i = 0; i < 10; i++) {
    v[i] = malloc(300 << 10);
    REQUIRE(v[i]);
    memset(v[i], 4, 300 << 10);
  }
  set_stage(1);
  wait_stage(2);
  for (int i = 0; i < 10; i++) free(v[i]);
  set_stage(3);
  wait_stage(4); /* idle, alive */
  return NULL;
}

static void sec_idlebias(void) {
  size_t base = rss_bytes();
  pthread_t t;
  stage = 0;
  REQUIRE(pthread_create(&t, NULL, idle_thread, NULL) == 0);
  wait_stage(1);
  size_t peak = rss_bytes();
  set_stage(2);
  wait_stage(3);
  expect_back("idlebias", base, peak, 1 * MiB);
  set_stage(4);
  pthread_join(t, NULL);
}

#define FO_BLOCKS (48 * 1024 / 4)
static char *fo[FO_BLOCKS];

static void *alloc_and_exit(void *arg) {
  (void)arg;
  for (size_t i = 0; i < FO_BLOCKS; i++) {
    fo[i] = malloc(4096);
    REQUIRE(fo[i]);
    memset(fo[i], 6, 4096);
  }
  return NULL;
}

static void *free_only(void *arg) {
  (void)arg;
  for (size_t i = 0; i < FO_BLOCKS; i++) free(fo[i]);
  return NULL;
}

static void sec_freeonly(void) {
  size_t base = rss_bytes();
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, alloc_and_exit, NULL) == 0);
  pthread_join(t, NULL);
  size_t peak = rss_bytes();
  REQUIRE(pthread_create(&t, NULL, free_only, NULL) == 0);
  pthread_join(t, NULL);
  expect_back("freeonly", base, peak, 4 * MiB);
}

static void sec_trim(void) {
  size_t base = rss_bytes();
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, alloc_and_exit, NULL) == 0);
  pthread_join(t, NULL);
  size_t peak = rss_bytes();
  /* the exited thread's segments are abandoned; free 7 of every 8 blocks
   * from here, then trim */
  for (size_t i = 0; i < FO_BLOCKS; i++)
    if (i % 8) free(fo[i]);
  malloc_trim(0);
  size_t now = rss_bytes();
  printf("trim: base %.1f MiB, peak %.1f MiB, after malloc_trim %.1f MiB\n", mib(base), mib(peak), mib(now));
  CHECKF(now <= base + 6 * MiB + 48 * MiB / 8, "trim: RSS %.1f MiB after malloc_trim", mib(now));
  for (size_t i = 0; i < FO_BLOCKS; i += 8) free(fo[i]);
}

static void sec_leanping(void) {
  hak_stats_t a, b;
  void *warm = malloc(3000);
  free(warm);
  hk_stats_get(&a);
  for (int i = 0; i < 200000; i++) {
    void *p = malloc(3000);
    REQUIRE(p);
    ((volatile char *)p)[0] = 1;
    free(p);
  }
  hk_stats_get(&b);
  uint64_t calls = (b.os_madvise - a.os_madvise) + (b.os_mmap - a.os_mmap) + (b.os_munmap - a.os_munmap);
  printf("leanping: %llu OS calls for 400000 operations\n", (unsigned long long)calls);
  CHECKF(calls < 20, "%llu OS calls for a malloc/free ping-pong", (unsigned long long)calls);
}

static void sec_churn(void) {
  const char *prof = getenv("HAKMEM_PROFILE");
  long base_ms = prof && strcmp(prof, "lean") == 0 ? 10 : 100;
  size_t base = rss_bytes(), peak = 0;
  hak_stats_t a, b;
  hk_stats_get(&a);
  for (int i = 0; i < 12; i++) {
    char *p = malloc(16 * MiB);
    REQUIRE(p && hk_owned(p));
    memset(p, i + 1, 16 * MiB);
    if (rss_bytes() > peak) peak = rss_bytes();
    free(p);
    sleep_ms(base_ms * 5 / 2);
  }
  hk_stats_get(&b);
  uint64_t hits = b.large_cache_hits - a.large_cache_hits, regrets = b.cache_regrets - a.cache_regrets;
  printf("churn: decay %ld ms, 12 re-takes: %llu cache hits, %llu regrets\n", base_ms, (unsigned long long)hits,
         (unsigned long long)regrets);
  if (base_ms < 100) { /* lean: the shared caches' decay stretches (up to the default's) */
    CHECKF(regrets >= 1, "no regret counted for a buffer expired and re-taken (%llu hits)", (unsigned long long)hits);
    CHECKF(hits >= 6, "only %llu of 12 re-takes hit the cache: the decay did not stretch", (unsigned long long)hits);
  } else { /* balanced keeps its decay: the buffer expires every time */
    CHECKF(hits <= 2, "%llu of 12 re-takes hit the cache: balanced's decay stretched", (unsigned long long)hits);
  }
  expect_back("churn", base, peak, 4 * MiB);
}

static const struct {
  const char *name;
  void (*fn)(void);
} sections[] = {
  {"subpage", sec_subpage},   {"bigblocks", sec_bigblocks},   {"midblocks", sec_midblocks}, {"pages", sec_pages},
  {"segcache", sec_segcache}, {"largecache", sec_largecache}, {"idlebias", sec_idlebias},
  {"freeonly", sec_freeonly}, {"trim", sec_trim},             {"leanping", sec_leanping},
  {"churn", sec_churn},
};

int main(int argc, char **argv) {
  hk_require();
  size_t count = sizeof sections / sizeof sections[0];
  if (argc > 1) { /* named sections, in this process */
    for (int a = 1; a < argc; a++)
      for (size_t i = 0; i < count; i++)
        if (strcmp(argv[a], sections[i].name) == 0) sections[i].fn();
    return check_exit("release");
  }
  int bad = 0;
  for (size_t i = 0; i < count; i++) {
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      char *args[] = {argv[0], (char *)sections[i].name, NULL};
      execv("/proc/self/exe", args);
      _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "section '%s' failed (status %d)\n", sections[i].name, st);
      bad = 1;
    }
  }
  printf("release: %s\n", bad ? "some sections failed" : "all sections passed");
  return bad;
}
