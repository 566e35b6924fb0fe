/* dlopen.c — libhakmem.so loaded late with dlopen(RTLD_LOCAL), without
 * preloading or linking: it must load (its TLS must fit the static TLS
 * surplus; PITFALLS: "cannot allocate memory in static TLS block") and its
 * hak_* API must work, from the main thread and from other threads, beside
 * glibc's malloc, which keeps serving the plain names.
 *
 * usage: dlopen PATH-TO-libhakmem.so
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void *(*h_malloc)(size_t);
static void (*h_free)(void *);
static void *(*h_realloc)(void *, size_t);
static void *(*h_aligned)(size_t, size_t);
static int (*h_owns)(const void *);
static size_t (*h_usable)(const void *);

static void *thread_fn(void *arg) {
  void *mine = h_malloc(5000);
  if (!mine || !h_owns(mine)) return (void *)1;
  memset(mine, 1, 5000);
  h_free(arg); /* a block from the main thread */
  void *g = malloc(100); /* glibc's */
  free(g);
  return mine;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(stderr, "FATAL: dlopen(%s): %s\n", argv[1], dlerror());
    return 1;
  }
  *(void **)&h_malloc = dlsym(h, "hak_malloc");
  *(void **)&h_free = dlsym(h, "hak_free");
  *(void **)&h_realloc = dlsym(h, "hak_realloc");
  *(void **)&h_aligned = dlsym(h, "hak_aligned_alloc");
  *(void **)&h_owns = dlsym(h, "hak_owns");
  *(void **)&h_usable = dlsym(h, "hak_usable_size");
  REQUIRE(h_malloc && h_free && h_realloc && h_aligned && h_owns && h_usable);
  /* the plain names still belong to glibc here */
  void *g = malloc(64);
  CHECK(g != NULL && !h_owns(g));
  free(g);
  void *v[1000];
  for (int i = 0; i < 1000; i++) {
    size_t n = (size_t)(i * 97 % 70000) + 1;
    v[i] = h_malloc(n);
    CHECK(v[i] && h_owns(v[i]) && h_usable(v[i]) >= n);
    if (v[i]) memset(v[i], i, n);
  }
  for (int i = 0; i < 1000; i += 2) {
    v[i] = h_realloc(v[i], 100000);
    CHECK(v[i] != NULL);
  }
  void *a = h_aligned(1 << 16, 1000);
  CHECK(a && ((uintptr_t)a & 0xffff) == 0 && h_owns(a));
  h_free(a);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) REQUIRE(pthread_create(&t[i], NULL, thread_fn, v[i]) == 0);
  for (int i = 0; i < 4; i++) {
    void *r = NULL;
    pthread_join(t[i], &r);
    CHECK(r != NULL && r != (void *)1);
    if (r && r != (void *)1) h_free(r);
    v[i] = NULL;
  }
  for (int i = 0; i < 1000; i++) h_free(v[i]);
  return check_exit("dlopen");
}
