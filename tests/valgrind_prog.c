/* valgrind_prog.c — a hakmem-linked program for runs under valgrind's
 * memcheck (tests/run: valgrind-*, tests/known/valgrind_*.c).
 *
 * usage: valgrind_prog clean|planted|entrypoints
 *   clean        allocations of every size range through malloc, calloc,
 *                realloc, aligned_alloc, posix_memalign, strdup, in two
 *                threads; everything freed: memcheck must report nothing
 *   planted      the same, plus four real errors: a read of uninitialised
 *                heap memory that decides a branch, a write after free, a
 *                write one byte past a block, and a leaked block
 *   entrypoints  malloc'ed blocks passed to reallocarray and free_sized
 * The first line printed says whether hakmem served malloc (under memcheck
 * by default, valgrind replaces malloc/free/realloc/calloc/... of every
 * object, libhakmem.so included; with --soname-synonyms=somalloc=
 * nouserintercepts it does not, and hakmem serves).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

void free_sized(void *p, size_t size);

static void *launder(void *p) {
  __asm__ volatile("" : "+r"(p));
  return p;
}

static void *work(void *arg) {
  size_t scale = (size_t)(uintptr_t)arg;
  void *v[64];
  for (int i = 0; i < 64; i++) {
    size_t n = (size_t)i * i * 37 * scale + 1;
    v[i] = malloc(n);
    if (!v[i]) exit(2);
    memset(v[i], i, n);
  }
  for (int i = 0; i < 64; i += 2) {
    void *q = realloc(v[i], (size_t)i * 5000 + 8);
    if (!q) exit(2);
    v[i] = q;
  }
  for (int i = 0; i < 64; i++) free(v[i]);
  return NULL;
}

static void clean(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, work, (void *)(uintptr_t)3) != 0) exit(2);
  work((void *)(uintptr_t)1);
  pthread_join(t, NULL);
  char *s = strdup("valgrind");
  int *z = calloc(1000, sizeof(int));
  void *a = aligned_alloc(4096, 8192), *pm = NULL;
  if (!s || !z || !a || posix_memalign(&pm, 64, 3 << 20) != 0) exit(2);
  long sum = z[999] + s[0];
  memset(pm, 1, 3 << 20);
  void *big = malloc(20 << 20);
  if (!big) exit(2);
  memset(big, 2, 20 << 20);
  big = realloc(big, 40 << 20);
  if (!big) exit(2);
  free(big);
  free(pm);
  free(a);
  free(z);
  free(s);
  printf("sum %ld\n", sum);
}

static void planted(void) {
  char *u = launder(malloc(64));
  if (u[10] == 'x') puts("the uninitialised byte was x"); /* 1: uninitialised read */
  free(u);
  char *d = launder(malloc(48));
  free(d);
  d[3] = 7;                                               /* 2: write after free */
  char *o = launder(malloc(16));
  o[16] = 1;                                              /* 3: one byte past the block */
  free(o);
  char *leak = launder(malloc(777));                      /* 4: leaked */
  leak[0] = 1;
  leak = NULL;
}

static void entrypoints(void) {
  char *p = malloc(100);
  if (!p) exit(2);
  memset(p, 3, 100);
  char *q = reallocarray(p, 30, 10);
  if (!q) exit(2);
  free_sized(q, 300);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "clean";
  void *probe = launder(malloc(100));
  printf("hakmem serves malloc: %s\n", hak_owns(probe) ? "yes" : "no");
  free(probe);
  if (!strcmp(mode, "clean")) clean();
  else if (!strcmp(mode, "planted")) {
    clean();
    planted();
  } else if (!strcmp(mode, "entrypoints")) entrypoints();
  else {
    fprintf(stderr, "valgrind_prog: unknown mode '%s'\n", mode);
    return 2;
  }
  puts("done");
  return 0;
}
