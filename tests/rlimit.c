/* rlimit.c — allocation when the OS refuses memory (RLIMIT_AS).
 *
 * usage: rlimit            (every section, each in a child process of its own)
 *        rlimit SECTION...  (only those, in this process: fill realloc threads nothread)
 *
 * Each section lowers the soft RLIMIT_AS to the process's current address
 * space (VmSize) plus a headroom, so an mmap hakmem makes fails in the middle
 * of growing a heap. Every allocation must then fail cleanly — NULL with
 * errno ENOMEM (posix_memalign: ENOMEM returned, *memptr untouched), a failed
 * realloc leaving its block intact — never crash, and memory must be usable
 * again once blocks are freed.
 *
 *   fill      the purge thread is running when the limit is hit. The headroom
 *             is filled with small blocks, then (after freeing them) with
 *             medium, large (1 MiB) and huge (24 MiB) blocks; while full,
 *             every entry point fails cleanly; each refill after freeing gets
 *             most of the headroom again; live blocks keep their contents.
 *   realloc   growth failing at every size range (small → medium, medium →
 *             large, large → huge, huge → larger huge, where mremap cannot
 *             grow in place and cannot move) leaves the block intact and
 *             usable; growth within the headroom still works.
 *   threads   four threads fill the headroom at once with mixed sizes and
 *             hit the limit together; main frees their blocks (remote frees);
 *             they fill again.
 *   nothread  the limit is hit before the purge thread ever started (its
 *             pthread_create fails): allocation, free and hak_collect still
 *             work, and after the limit is lifted memory is usable again.
 *
 * What does not work yet is in tests/known/: rlimit_caches.c (freed memory
 * held in hakmem's caches is not given back when the OS refuses a mapping),
 * realloc_shrink_oom.c, purge_thread_restart.c. Helpers are in oom.h.
 * Linked with -lhakmem.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "hakmem.h"
#include "oom.h"

/* While the headroom is full: every entry point fails cleanly. `small` is a
 * live block whose realloc growth must fail and leave it intact. */
static void check_all_fail(const char *what) {
  static const size_t sizes[] = {100 * KiB, 1 * MiB, 3 * MiB, 64 * MiB};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k];
    errno = 0;
    void *p = malloc(n);
    if (p) { free(p); continue; } /* a cached mapping fitted: fine */
    CHECKF(errno == ENOMEM, "%s: malloc(%zu): errno %d", what, n, errno);
    errno = 0;
    p = calloc(1, n);
    CHECKF(p == NULL && errno == ENOMEM, "%s: calloc(1, %zu) = %p, errno %d", what, n, p, errno);
    free(p);
    errno = 0;
    p = aligned_alloc(64 * KiB, n);
    CHECKF(p == NULL && errno == ENOMEM, "%s: aligned_alloc(64K, %zu) = %p, errno %d", what, n, p, errno);
    free(p);
    void *out = (void *)0x1234;
    errno = 0;
    int rc = posix_memalign(&out, 4096, n);
    CHECKF(rc == ENOMEM && out == (void *)0x1234 && errno == 0,
           "%s: posix_memalign(4096, %zu) = %d, *memptr %p, errno %d", what, n, rc, out, errno);
    if (rc == 0) free(out);
    errno = 0;
    p = memalign(1 * MiB, n);
    CHECKF(p == NULL && errno == ENOMEM, "%s: memalign(1M, %zu) = %p, errno %d", what, n, p, errno);
    free(p);
    errno = 0;
    p = valloc(n);
    CHECKF(p == NULL && errno == ENOMEM, "%s: valloc(%zu) = %p, errno %d", what, n, p, errno);
    free(p);
  }
}

/* ------------------------------------------------------------- sections */

#define HEADROOM (160 * MiB)

/* Fill the headroom with blocks of one size, check that everything fails
 * cleanly while it is full, free them all, fill again: the second fill must
 * get about as much (hakmem's caches hold exactly what the next fill of the
 * same shape reuses). */
static void fill_twice(size_t size, blk_t **keep_list) {
  blk_t *l = NULL;
  char what[64];
  snprintf(what, sizeof what, "%zu-byte blocks", size);
  size_t got1 = fill(size, &l, what);
  CHECKF(got1 >= HEADROOM / 2, "%s: only %zu MiB in a %zu MiB headroom", what, got1 / MiB, HEADROOM / MiB);
  check_all_fail(what);
  CHECKF(blk_free_all(&l) == 0, "%s: blocks damaged", what);
  size_t got2 = fill(size, &l, what);
  printf("fill: %zu MiB of %s, then after freeing them %zu MiB\n", got1 / MiB, what, got2 / MiB);
  CHECKF(got2 >= got1 - got1 / 10, "%s: %zu MiB before freeing, %zu MiB after", what, got1 / MiB, got2 / MiB);
  /* keep a few of them live through the next shapes */
  for (int i = 0; i < 3 && l != NULL; i++) {
    blk_t *b = l;
    l = b->next;
    b->next = *keep_list;
    *keep_list = b;
  }
  CHECKF(blk_free_all(&l) == 0, "%s: blocks damaged", what);
}

static void test_fill(void) {
  CHECKF(start_purge_thread(), "the purge thread did not start");
  blk_t *kept = NULL;
  char *keeper = malloc(5000);
  REQUIRE(keeper);
  pattern(keeper, 5000, 1);
  set_headroom(HEADROOM);

  /* small blocks until the OS says no, then every entry point fails cleanly */
  blk_t *small = NULL;
  size_t got = fill(48, &small, "small");
  printf("fill: %zu MiB of 48-byte blocks in a %zu MiB headroom\n", got / MiB, HEADROOM / MiB);
  CHECKF(got >= HEADROOM / 2, "only %zu MiB of small blocks in %zu MiB", got / MiB, HEADROOM / MiB);
  check_all_fail("full of small blocks");
  errno = 0;
  char *grown = realloc(keeper, 2 * MiB);
  CHECKF(grown == NULL && errno == ENOMEM, "realloc growth while full = %p", (void *)grown);
  if (grown) keeper = grown;
  CHECKF(pattern_ok(keeper, 5000, 1), "failed realloc damaged its block");
  /* C library functions that allocate fail cleanly too */
  char *s = NULL;
  int rc = asprintf(&s, "%0*d", 200000, 7);
  CHECKF(rc == -1 || (s != NULL && strlen(s) == 200000), "asprintf returned %d", rc);
  free(s);
  CHECKF(blk_free_all(&small) == 0, "small blocks damaged");

  /* each shape fills the headroom, fails cleanly, is freed, fills it again */
  static const size_t shapes[] = {48, 1000, 40 * KiB, 300 * KiB, 1 * MiB, 24 * MiB};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    fill_twice(shapes[k], &kept);
    hak_collect(); /* give the caches back before the next shape: see known/rlimit_caches.c */
  }
  CHECKF(blk_free_all(&kept) == 0, "blocks kept across shapes damaged");
  CHECKF(pattern_ok(keeper, 5000, 1), "the long-lived block was damaged");
  free(keeper);
  lift_limit();
}

/* realloc growth that the OS refuses leaves the block as it was. */
static void test_realloc(void) {
  static const struct { size_t from, to; } steps[] = {
      {100, 40 * KiB},          /* small -> medium */
      {40 * KiB, 400 * KiB},    /* medium -> large page */
      {400 * KiB, 64 * MiB},    /* large page -> huge */
      {16 * MiB, 96 * MiB},     /* huge -> larger huge: mremap cannot grow, cannot move */
  };
  for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
    size_t from = steps[k].from, to = steps[k].to;
    char *p = malloc(from);
    REQUIRE(p);
    pattern(p, from, (unsigned)k);
    /* take all but a little of the address space */
    set_headroom(2 * MiB);
    blk_t *pad = NULL;
    fill(64 * KiB, &pad, "padding");
    fill(48, &pad, "padding");
    errno = 0;
    char *q = realloc(p, to);
    CHECKF(q == NULL && errno == ENOMEM, "realloc(%zu -> %zu) = %p, errno %d under the limit", from, to, (void *)q,
           errno);
    if (q) p = q;
    CHECKF(pattern_ok(p, from, (unsigned)k), "failed realloc(%zu -> %zu) damaged the block", from, to);
    CHECKF(hak_usable_size(p) >= from, "usable size %zu < %zu after a failed realloc", hak_usable_size(p), from);
    errno = 0;
    q = reallocarray(p, to / 8, 8);
    CHECKF(q == NULL && errno == ENOMEM, "reallocarray(%zu -> %zu) = %p under the limit", from, to, (void *)q);
    if (q) p = q;
    CHECKF(pattern_ok(p, from, (unsigned)k), "failed reallocarray damaged the block");
    CHECKF(blk_free_all(&pad) == 0, "padding blocks damaged");
    lift_limit();
    /* then the block shrinks keeping its prefix (a shrink under a full limit
     * fails today: known/realloc_shrink_oom.c), and grows normally */
    q = realloc(p, from / 2);
    CHECKF(q != NULL, "realloc shrink (%zu -> %zu) failed", from, from / 2);
    if (q) p = q;
    CHECKF(pattern_prefix_ok(p, from, from / 2, (unsigned)k), "realloc shrink (%zu -> %zu) lost bytes", from, from / 2);
    q = realloc(p, to);
    CHECKF(q != NULL, "realloc(%zu -> %zu) failed with no limit", from / 2, to);
    free(q ? q : p);
  }

  /* a huge block grown step by step up to the limit: each step either works
   * (in place, or moved) or fails leaving the block intact */
  size_t n = 8 * MiB;
  char *p = malloc(n);
  REQUIRE(p);
  pattern(p, n, 99);
  malloc_trim(0); /* empty caches would be given back at ENOMEM: start without */
  set_headroom(48 * MiB);
  int failed = 0;
  for (int i = 0; i < 40 && !failed; i++) {
    size_t m = n + 3 * MiB;
    errno = 0;
    char *q = realloc(p, m);
    if (q == NULL) {
      CHECKF(errno == ENOMEM, "realloc(%zu) errno %d", m, errno);
      failed = 1;
    } else {
      p = q;
      n = m;
    }
    CHECKF(pattern_ok(p, 8 * MiB, 99), "realloc step %d (%zu MiB) damaged the block", i, n / MiB);
  }
  CHECKF(failed, "48 MiB of headroom never ran out growing a block to %zu MiB", n / MiB);
  free(p);
  lift_limit();
}

/* Four threads hit the limit together; main frees their blocks. */
#define NT 4
static blk_t *t_lists[NT];
static size_t t_got[NT];
static pthread_barrier_t t_barrier;

static void *t_fill(void *arg) {
  int id = (int)(intptr_t)arg;
  unsigned long long rs = (unsigned long long)id * 7919 + 1;
  pthread_barrier_wait(&t_barrier);
  size_t got = 0;
  int fails = 0;
  while (fails < 64) {
    size_t r = rng_below(&rs, 100);
    size_t n = r < 70 ? 32 + rng_below(&rs, 2000) : r < 95 ? 8 * KiB + rng_below(&rs, 100 * KiB)
                                                          : 600 * KiB + rng_below(&rs, 3 * MiB);
    errno = 0;
    void *p = malloc(n);
    if (p == NULL) {
      CHECKF(errno == ENOMEM, "thread %d: malloc(%zu): errno %d", id, n, errno);
      fails++;
      continue;
    }
    blk_init(p, n, &t_lists[id]);
    got += n;
  }
  t_got[id] = got;
  return NULL;
}

static size_t threads_round(void) {
  pthread_t t[NT];
  pthread_barrier_init(&t_barrier, NULL, NT);
  for (intptr_t i = 0; i < NT; i++) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * KiB);
    REQUIRE(pthread_create(&t[i], &a, t_fill, (void *)i) == 0);
    pthread_attr_destroy(&a);
  }
  for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&t_barrier);
  size_t total = 0;
  for (int i = 0; i < NT; i++) total += t_got[i];
  return total;
}

static void test_threads(void) {
  start_purge_thread();
  set_headroom(HEADROOM + NT * 300 * KiB); /* the threads' stacks, too */
  size_t got1 = threads_round();
  printf("threads: %zu MiB in the first round\n", got1 / MiB);
  CHECKF(got1 >= HEADROOM / 2, "4 threads got only %zu MiB of %zu", got1 / MiB, HEADROOM / MiB);
  for (int i = 0; i < NT; i++) CHECKF(blk_free_all(&t_lists[i]) == 0, "thread %d's blocks damaged", i);
  hak_collect(); /* the caches: known/rlimit_caches.c */
  size_t got2 = threads_round();
  printf("threads: %zu MiB in the second round\n", got2 / MiB);
  CHECKF(got2 >= HEADROOM / 2, "after freeing, 4 threads got only %zu MiB", got2 / MiB);
  for (int i = 0; i < NT; i++) CHECKF(blk_free_all(&t_lists[i]) == 0, "thread %d's blocks damaged", i);
  lift_limit();
}

/* The limit is hit before the purge thread ever started: the frees that
 * would start it cannot (pthread_create fails). */
static void test_nothread(void) {
  CHECKF(!purge_thread_running(), "the purge thread is already running");
  set_headroom(64 * MiB);
  blk_t *l = NULL;
  size_t got = fill(200, &l, "nothread small");
  got += fill(2 * MiB, &l, "nothread large");
  printf("nothread: %zu MiB\n", got / MiB);
  CHECKF(got >= 32 * MiB, "only %zu MiB of 64", got / MiB);
  CHECKF(blk_free_all(&l) == 0, "blocks damaged");
  hak_collect();
  got = fill(64 * KiB, &l, "nothread medium");
  CHECKF(got >= 32 * MiB, "after freeing and hak_collect, only %zu MiB of 64", got / MiB);
  CHECKF(blk_free_all(&l) == 0, "blocks damaged");
  lift_limit();
  void *p = malloc(100 * MiB);
  CHECKF(p != NULL, "malloc(100 MiB) failed after the limit was lifted");
  if (p) pattern(p, 100 * MiB, 3);
  free(p);
  /* the purge thread is not started again: known/purge_thread_restart.c */
}

/* -------------------------------------------------------------------- main */

static const struct {
  const char *name;
  void (*fn)(void);
} SECTIONS[] = {{"nothread", test_nothread}, {"fill", test_fill}, {"realloc", test_realloc}, {"threads", test_threads}};
#define NSECTIONS (sizeof SECTIONS / sizeof SECTIONS[0])

static int run_section(const char *name) {
  for (size_t k = 0; k < NSECTIONS; k++)
    if (!strcmp(name, SECTIONS[k].name)) {
      SECTIONS[k].fn();
      return 1;
    }
  fprintf(stderr, "rlimit: unknown section '%s'\n", name);
  return 0;
}

int main(int argc, char **argv) {
  void *first = malloc(1);
  REQUIRE(first != NULL && hak_owns(first));
  free(first);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1) {
    for (int i = 1; i < argc; i++)
      if (!run_section(argv[i])) return 2;
    return check_exit("rlimit");
  }
  for (size_t k = 0; k < NSECTIONS; k++) {
    pid_t pid = check_fork();
    if (pid == 0) {
      alarm(60);
      char name[64];
      snprintf(name, sizeof name, "rlimit %s", SECTIONS[k].name);
      SECTIONS[k].fn();
      _exit(check_exit(name));
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFSIGNALED(st))
      CHECKF(0, "section '%s' killed by signal %d (%s)", SECTIONS[k].name, WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
      CHECKF(WEXITSTATUS(st) == 0, "section '%s' failed", SECTIONS[k].name);
  }
  return check_exit("rlimit");
}
