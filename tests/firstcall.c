/* firstcall.c — the first allocator call of a process or thread may be any entry point.
 *
 * (b) A constructor with priority 101 (before ordinary constructors) calls
 *     free(NULL), malloc and realloc before main; a destructor allocates after
 *     main returns.
 * (a) New threads whose very first allocator call is realloc(NULL, n),
 *     free(NULL), free(p) of a main-thread block, malloc_usable_size(p),
 *     calloc, posix_memalign, aligned_alloc or free of a block whose
 *     allocating thread has exited; a thread that only ever frees; a thread
 *     whose pthread key destructor allocates after the allocator's own
 *     thread-exit hook has run.
 *
 * Built twice: linked with -lhakmem, and plain (run under LD_PRELOAD).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static void *ctor_block;
static void *ctor_calloc;
static char *ctor_strdup;
static int ctor_ran;

__attribute__((constructor(101))) static void early(void) {
  free(NULL);
  char *p = malloc(100);
  if (!p) return;
  memset(p, 'x', 100);
  char *q = realloc(p, 5000);
  if (!q) return;
  memset(q + 100, 'y', 4900);
  ctor_block = q;
  ctor_calloc = calloc(10, 10);
  ctor_strdup = strdup("made before main");
  ctor_ran = 1;
}

__attribute__((destructor)) static void late(void) {
  /* after main returned (and after exit-time stats, if any) */
  void *p = malloc(300);
  if (p) memset(p, 1, 300);
  void *q = realloc(p, 30000);
  free(q ? q : p);
  free(NULL);
}

static void *main_block;     /* allocated by the main thread */
static void *orphan_block;   /* allocated by a thread that has exited */

static void *t_realloc_first(void *a) {
  (void)a;
  char *p = realloc(NULL, 777);
  if (!p) return (void *)1;
  memset(p, 7, 777);
  if (hk_owns && !hk_owns(p)) return (void *)2;
  free(p);
  return NULL;
}
static void *t_free_null_first(void *a) {
  (void)a;
  free(NULL);
  void *p = malloc(50);
  if (!p) return (void *)1;
  free(p);
  return NULL;
}
static void *t_free_foreign_first(void *a) {
  (void)a;
  free(main_block);
  void *p = malloc(60);
  if (!p) return (void *)1;
  free(p);
  return NULL;
}
static void *t_usable_first(void *a) {
  (void)a;
  size_t u = malloc_usable_size(main_block);
  if (u < 4000) return (void *)1;
  return NULL;
}
static void *t_calloc_first(void *a) {
  (void)a;
  unsigned char *p = calloc(1000, 3);
  if (!p) return (void *)1;
  for (int i = 0; i < 3000; i++)
    if (p[i]) return (void *)2;
  free(p);
  return NULL;
}
static void *t_memalign_first(void *a) {
  (void)a;
  void *p = (void *)0x1;
  if (posix_memalign(&p, 4096, 100) != 0) return (void *)1;
  if ((uintptr_t)p & 4095) return (void *)2;
  free(p);
  void *q = aligned_alloc(256, 256);
  if (!q || ((uintptr_t)q & 255)) return (void *)3;
  free(q);
  return NULL;
}
static void *t_aligned_first(void *a) {
  (void)a;
  void *q = aligned_alloc(1 << 20, 100);
  if (!q || ((uintptr_t)q & ((1 << 20) - 1))) return (void *)1;
  free(q);
  return NULL;
}
static void *t_make_orphan(void *a) {
  (void)a;
  orphan_block = malloc(333);
  if (orphan_block) memset(orphan_block, 3, 333);
  return NULL;
}
static void *t_free_orphan_first(void *a) {
  (void)a;
  free(orphan_block); /* its thread (and maybe its heap) is gone */
  return NULL;
}
static void *free_only_blocks[2000];
static void *t_free_only(void *a) {
  (void)a;
  for (int i = 0; i < 2000; i++) free(free_only_blocks[i]);
  return NULL;
}

static pthread_key_t late_key;
static void late_key_destructor(void *v) {
  free(v);
  void *p = malloc(64);
  if (p) memset(p, 1, 64);
  free(p);
  void *q = calloc(1, 5000);
  free(q);
  static __thread int again;
  if (again++ < 2) pthread_setspecific(late_key, malloc(32)); /* ask for another round */
}
static void *t_key_destructor(void *a) {
  (void)a;
  pthread_setspecific(late_key, malloc(128));
  return NULL;
}

static void run(const char *name, void *(*fn)(void *)) {
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, fn, NULL) == 0);
  void *ret = (void *)-1;
  pthread_join(t, &ret);
  CHECKF(ret == NULL, "thread '%s' failed with code %ld", name, (long)(intptr_t)ret);
}

int main(void) {
  hk_require();
  CHECKF(ctor_ran, "constructor(101) allocations failed");
  if (ctor_ran) {
    const char *q = ctor_block;
    int bad = 0;
    for (int i = 0; i < 100; i++) bad += q[i] != 'x';
    for (int i = 100; i < 5000; i++) bad += q[i] != 'y';
    CHECKF(bad == 0, "block realloc'd in the constructor lost %d bytes", bad);
    if (hk_owns) {
      CHECKF(hk_owns(ctor_block), "block allocated before main is not hakmem's");
      CHECKF(hk_owns(ctor_calloc), "calloc before main is not hakmem's");
      CHECKF(hk_owns(ctor_strdup), "strdup before main is not hakmem's");
    }
    const unsigned char *c = ctor_calloc;
    for (int i = 0; i < 100; i++) bad += c[i] != 0;
    CHECK(bad == 0);
    CHECK(strcmp(ctor_strdup, "made before main") == 0);
    free(ctor_block);
    free(ctor_calloc);
    free(ctor_strdup);
  }

  main_block = malloc(4000);
  REQUIRE(main_block);
  run("realloc(NULL) first", t_realloc_first);
  run("free(NULL) first", t_free_null_first);
  run("malloc_usable_size first", t_usable_first);
  run("free(main's block) first", t_free_foreign_first);
  run("calloc first", t_calloc_first);
  run("posix_memalign first", t_memalign_first);
  run("aligned_alloc(1 MiB) first", t_aligned_first);
  run("make orphan", t_make_orphan);
  run("free(orphan) first", t_free_orphan_first);
  for (int i = 0; i < 2000; i++) free_only_blocks[i] = malloc((size_t)(i % 100) * 16 + 8);
  run("free-only thread", t_free_only);
  REQUIRE(pthread_key_create(&late_key, late_key_destructor) == 0);
  run("key destructor allocates", t_key_destructor);
  run("key destructor allocates (again)", t_key_destructor);

  /* the main thread's allocator state is intact afterwards */
  for (int i = 0; i < 2000; i++) free_only_blocks[i] = malloc((size_t)(i % 100) * 16 + 8);
  for (int i = 0; i < 2000; i++) {
    CHECK(free_only_blocks[i] != NULL);
    free(free_only_blocks[i]);
  }
  return check_exit("firstcall");
}
