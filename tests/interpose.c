/* interpose.c — hakmem beside an mmap/munmap/mremap interposer.
 *
 * Run under LD_PRELOAD with libinterpose_mmap.so (tests/interpose_mmap.c),
 * in both orders: "interposer hakmem" and "hakmem interposer". hakmem calls
 * mmap from its start-up on, so every mapping it makes goes through the
 * interposer's hook, whose first call resolves the real function with
 * dlsym(RTLD_NEXT). The program must start (no deadlock, no recursion: a
 * hang is caught by the runner's time limit), and then: threads allocate all
 * size ranges, grow huge blocks with realloc (mremap), give memory back with
 * hak_collect (munmap), fork a child that allocates; the interposer must have
 * seen at least as many calls of each kind as hakmem's own counters report.
 *
 * The hook variants that allocate inside hakmem's mmap call (glibc's dlsym
 * failing a lookup, or older glibc's calloc in dlsym) are in
 * tests/known/interpose_alloc.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define MiB ((size_t)1 << 20)

static long (*hook_count)(int);

static void *worker(void *arg) {
  unsigned long long rs = (uintptr_t)arg + 17;
  void *keep[64] = {0};
  for (int i = 0; i < 4000; i++) {
    int k = (int)rng_below(&rs, 64);
    free(keep[k]);
    unsigned r = (unsigned)rng_below(&rs, 100);
    size_t n = r < 80 ? 1 + rng_below(&rs, 2000) : r < 97 ? 2000 + rng_below(&rs, 200000) : MiB + rng_below(&rs, 6 * MiB);
    keep[k] = malloc(n);
    if (!keep[k]) {
      CHECKF(0, "malloc(%zu) failed", n);
      continue;
    }
    CHECK(hk_owned(keep[k]));
    memset(keep[k], 0x33, n < 4096 ? n : 4096);
  }
  /* a huge block grown step by step: mremap through the hook */
  size_t n = 2 * MiB;
  char *p = malloc(n);
  REQUIRE(p);
  p[0] = 7;
  for (int i = 0; i < 12; i++) {
    n += n / 2;
    char *q = realloc(p, n);
    if (!q) {
      CHECKF(0, "realloc(%zu) failed", n);
      break;
    }
    p = q;
    p[n - 1] = 1;
  }
  CHECK(p[0] == 7);
  free(p);
  for (int i = 0; i < 64; i++) free(keep[i]);
  if (hk_collect) hk_collect();
  return NULL;
}

int main(void) {
  hk_require();
  *(void **)&hook_count = dlsym(RTLD_DEFAULT, "interpose_mmap_count");
  REQUIRE(hook_count != NULL); /* the interposer is not loaded: LD_PRELOAD is wrong */
  alarm(60);
  pthread_t t[4];
  for (intptr_t i = 0; i < 4; i++) REQUIRE(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);

  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    alarm(20);
    void *v[100];
    for (int i = 0; i < 100; i++) v[i] = malloc((size_t)i * 5000 + 1);
    for (int i = 0; i < 100; i++) free(v[i]);
    void *big = malloc(32 * MiB);
    if (!big) _exit(2);
    memset(big, 1, 32 * MiB);
    free(big);
    _exit(0);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forked child: status 0x%x", st);

  hak_stats_t s;
  hk_stats_get(&s);
  long m = hook_count(0), u = hook_count(1), r = hook_count(2);
  printf("interposer saw mmap %ld, munmap %ld, mremap %ld, nested %ld; hakmem counted mmap %llu, munmap %llu, "
         "mremap %llu\n",
         m, u, r, hook_count(3), (unsigned long long)s.os_mmap, (unsigned long long)s.os_munmap,
         (unsigned long long)s.os_mremap);
  CHECKF(s.os_mmap > 0 && s.os_munmap > 0 && s.os_mremap > 0, "hakmem made no mmap/munmap/mremap calls?");
  CHECKF(m >= (long)s.os_mmap, "the hook saw %ld mmap calls, hakmem made %llu", m, (unsigned long long)s.os_mmap);
  CHECKF(u >= (long)s.os_munmap, "the hook saw %ld munmap calls, hakmem made %llu", u,
         (unsigned long long)s.os_munmap);
  CHECKF(r >= (long)s.os_mremap, "the hook saw %ld mremap calls, hakmem made %llu", r,
         (unsigned long long)s.os_mremap);
  return check_exit("interpose");
}
