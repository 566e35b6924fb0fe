/* static.c — a statically linked program (build/libhakmem.a, -static): the
 * allocator is linked in instead of glibc's malloc, and libc-internal
 * allocations (strdup, qsort's buffer, stdio, getline, asprintf, opendir,
 * threads) go through it too. */
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
#include <unistd.h>

#include "check.h"
#include "hakmem.h"

static void *early_block;
__attribute__((constructor(101))) static void early(void) {
  free(NULL);
  early_block = realloc(NULL, 123);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static void *thread_fn(void *arg) {
  char *s = strdup((const char *)arg);
  if (!s || !hak_owns(s)) return (void *)1;
  free(s);
  void *p = malloc(1 << 20);
  return p; /* freed by main */
}

int main(void) {
  void *p = malloc(100);
  REQUIRE(p != NULL);
  REQUIRE(hak_owns(p));
  free(p);
  CHECK(early_block && hak_owns(early_block));
  free(early_block);

  char *s = strdup("hello, static world");
  CHECK(s && hak_owns(s));
  CHECK(s && strcmp(s, "hello, static world") == 0);
  char *n = strndup("abcdef", 3);
  CHECK(n && hak_owns(n) && strcmp(n, "abc") == 0);
  free(n);
  free(s);

  char *a = NULL;
  CHECK(asprintf(&a, "%d-%s", 42, "x") == 4);
  CHECK(a && hak_owns(a) && strcmp(a, "42-x") == 0);
  free(a);

  /* qsort on a large array uses malloc internally for its buffer */
  enum { N = 200000 };
  int *v = malloc(N * sizeof *v);
  REQUIRE(v);
  unsigned long long rs = 5;
  for (int i = 0; i < N; i++) v[i] = (int)rng_below(&rs, 1000000);
  qsort(v, N, sizeof *v, cmp_int);
  int sorted = 1;
  for (int i = 1; i < N; i++) sorted &= v[i - 1] <= v[i];
  CHECK(sorted);
  free(v);

  /* stdio and getline buffers */
  FILE *f = tmpfile();
  REQUIRE(f);
  for (int i = 0; i < 1000; i++) fprintf(f, "line %d %s\n", i, i % 7 ? "short" : "a much longer line of text");
  rewind(f);
  char *line = NULL;
  size_t cap = 0;
  int lines = 0;
  while (getline(&line, &cap, f) > 0) lines++;
  CHECK(lines == 1000);
  CHECK(line && hak_owns(line));
  free(line);
  fclose(f);

  DIR *d = opendir("/");
  CHECK(d != NULL);
  if (d) {
    int entries = 0;
    while (readdir(d)) entries++;
    CHECK(entries > 2);
    closedir(d);
  }

  void *al = aligned_alloc(4096, 5000);
  CHECK(al && ((uintptr_t)al & 4095) == 0 && hak_owns(al));
  free(al);
  void *c = calloc(1000, 1000);
  CHECK(c && hak_owns(c));
  free(c);
  CHECK(malloc_usable_size(NULL) == 0);

  pthread_t t[4];
  for (int i = 0; i < 4; i++) REQUIRE(pthread_create(&t[i], NULL, thread_fn, "from a thread") == 0);
  for (int i = 0; i < 4; i++) {
    void *r = NULL;
    pthread_join(t[i], &r);
    CHECK(r != NULL && r != (void *)1 && hak_owns(r));
    if (r != (void *)1) free(r);
  }
  hak_stats_t st;
  hak_stats_get(&st);
  CHECK(st.blocks_carved > 0);
  CHECK(st.invalid_frees == 0);
  return check_exit("static");
}
