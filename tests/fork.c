/* fork.c — fork while other threads allocate.
 *
 * usage: fork [FORKS]   (default 200)
 *
 * Two worker threads malloc/free (small, medium and large blocks) in a loop
 * while the main thread forks repeatedly. Each child: frees blocks its parent
 * allocated before the fork (some from a worker thread that does not exist
 * in the child), mallocs/frees a few thousand blocks, starts a thread that
 * allocates, and _exit(0)s. The parent checks every child's exit status. A
 * lock left held across fork() shows up as a child that never exits: alarm()
 * turns that into a failure instead of a hang. The last forks are done from a
 * worker thread instead of the main thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define NSHARED 64
static _Atomic(uintptr_t) shared[NSHARED]; /* blocks allocated by workers, live across forks */
static atomic_int stop;

static size_t size_for(unsigned long long *rs) {
  unsigned r = (unsigned)rng_below(rs, 100);
  if (r < 80) return 1 + rng_below(rs, 1024);
  if (r < 97) return 1024 + rng_below(rs, 128 * 1024);
  return 256 * 1024 + rng_below(rs, 4 << 20);
}

static void *worker(void *arg) {
  unsigned long long rs = (uintptr_t)arg * 977 + 5;
  void *mine[32] = {0};
  while (!atomic_load(&stop)) {
    for (int i = 0; i < 32; i++) {
      free(mine[i]);
      size_t n = size_for(&rs);
      mine[i] = malloc(n);
      if (!mine[i]) {
        CHECKF(0, "worker malloc(%zu) failed", n);
        continue;
      }
      memset(mine[i], (int)n, n < 256 ? n : 256);
    }
    /* publish a block for the children to free */
    size_t n = 16 + rng_below(&rs, 5000);
    char *p = malloc(n);
    if (p) {
      memset(p, 0x5C, n);
      p[0] = (char)(n & 0x7f);
      void *old = (void *)atomic_exchange(&shared[rng_below(&rs, NSHARED)], (uintptr_t)p);
      free(old);
    }
    void *q = calloc(3, 1000);
    void *r = realloc(q, 100000);
    free(r ? r : q);
  }
  for (int i = 0; i < 32; i++) free(mine[i]);
  return NULL;
}

static void *child_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    void *p = malloc((size_t)(i % 500) * 8 + 1);
    if (!p) return (void *)1;
    free(p);
  }
  return malloc(1234);
}

static void child(unsigned long long rs) {
  alarm(20);
  /* take over blocks the parent's threads allocated */
  for (int i = 0; i < NSHARED; i++) {
    char *p = (char *)atomic_exchange(&shared[i], 0);
    if (p) {
      if (hk_owns && !hk_owns(p)) _exit(3);
      free(p);
    }
  }
  void *v[256] = {0};
  for (int i = 0; i < 3000; i++) {
    int k = (int)rng_below(&rs, 256);
    free(v[k]);
    size_t n = size_for(&rs);
    v[k] = malloc(n);
    if (!v[k]) _exit(4);
    memset(v[k], 1, n < 64 ? n : 64);
  }
  pthread_t t;
  if (pthread_create(&t, NULL, child_thread, NULL) != 0) _exit(5);
  void *ret = NULL;
  pthread_join(t, &ret);
  if (ret == (void *)1 || ret == NULL) _exit(6);
  if (hk_owns && !hk_owns(ret)) _exit(7);
  free(ret);
  for (int i = 0; i < 256; i++) free(v[i]);
  /* stdio allocates too */
  char *s = NULL;
  if (asprintf(&s, "child %d", (int)getpid()) < 0) _exit(8);
  free(s);
  _exit(0);
}

static int forks_failed;

static void do_forks(int n, unsigned long long seed) {
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      CHECKF(0, "fork failed: %s", strerror(errno));
      return;
    }
    if (pid == 0) child(seed + (unsigned long long)i);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    CHECKF(w == pid, "waitpid: %s", strerror(errno));
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) {
      forks_failed++;
      if (WIFSIGNALED(st))
        CHECKF(0, "fork #%d: child killed by signal %d%s", i, WTERMSIG(st),
               WTERMSIG(st) == SIGALRM ? " (deadlock: alarm fired)" : "");
      else
        CHECKF(0, "fork #%d: child exit status %d", i, WEXITSTATUS(st));
    }
    /* the parent keeps allocating between forks */
    void *p = malloc(100 + (size_t)i);
    free(p);
  }
}

static void *forking_thread(void *arg) {
  do_forks((int)(intptr_t)arg, 999);
  return NULL;
}

int main(int argc, char **argv) {
  int forks = argc > 1 ? atoi(argv[1]) : 200;
  hk_require();
  alarm(240); /* whole test; a hang in the parent fails too */
  pthread_t w[2];
  for (intptr_t i = 0; i < 2; i++) REQUIRE(pthread_create(&w[i], NULL, worker, (void *)i) == 0);
  do_forks(forks - forks / 5, 1);
  pthread_t f;
  REQUIRE(pthread_create(&f, NULL, forking_thread, (void *)(intptr_t)(forks / 5)) == 0);
  pthread_join(f, NULL);
  atomic_store(&stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(w[i], NULL);
  for (int i = 0; i < NSHARED; i++) free((void *)atomic_exchange(&shared[i], 0));
  if (forks_failed) fprintf(stderr, "%d of %d children failed\n", forks_failed, forks);
  return check_exit("fork");
}
