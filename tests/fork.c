/* fork.c — fork while other threads allocate.
 *
 * usage: fork [FORKS]   (default 200)
 *
 * Two worker threads malloc/free (small, medium and large blocks) in a loop
 * while the main thread forks repeatedly. Each child: frees blocks its parent
 * allocated before the fork (some from a worker thread that does not exist
 * in the child), mallocs/frees a few thousand blocks, starts a thread that
 * allocates, and exits — with _exit(0), or every other time with exit(0),
 * which runs the exit handlers and hakmem's destructor. Every 4th child
 * forks again, from a thread of its own while its main thread allocates; the
 * grandchild allocates, starts a thread and exit(0)s. Every 20th child checks
 * that a purge thread of its own starts when it frees a large block (the
 * parent's does not survive fork). The last forks are done from a worker
 * thread instead of the main thread. The workers' frees of large blocks keep
 * hakmem's purge thread busy: at least one fork must happen while it runs.
 * The parent checks every child's exit status. A lock left held across
 * fork() shows up as a child that never exits: alarm() turns that into a
 * failure instead of a hang.
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

/* A grandchild: allocate, use a thread, exit through the exit handlers. */
static void grandchild(void) {
  alarm(20);
  void *v[64];
  for (int i = 0; i < 64; i++) {
    v[i] = malloc((size_t)i * 999 + 1);
    if (!v[i]) _exit(20);
  }
  pthread_t t;
  void *ret = NULL;
  if (pthread_create(&t, NULL, child_thread, NULL) != 0) _exit(21);
  pthread_join(t, &ret);
  if (ret == (void *)1 || ret == NULL) _exit(22);
  free(ret);
  for (int i = 0; i < 64; i++) free(v[i]);
  exit(0);
}

static atomic_int child_busy; /* the child's main thread allocates while this is set */

/* In a child: fork from this (non-main) thread; returns the grandchild's
 * wait status. */
static void *child_forker(void *arg) {
  (void)arg;
  pid_t pid = fork();
  if (pid < 0) return (void *)(intptr_t)-1;
  if (pid == 0) grandchild();
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  atomic_store(&child_busy, 0);
  return (void *)(intptr_t)st;
}

static void child(unsigned long long rs, int k) {
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
  if (k % 20 == 0) {
    /* the child gets a purge thread of its own once it has work for one */
    int running = 0;
    for (int i = 0; i < 40 && !running; i++) {
      free(malloc(6 << 20));
      running = purge_thread_running();
      if (!running) usleep(5000);
    }
    if (!running) _exit(10);
  }
  if (k % 4 == 0) {
    /* fork again, from a thread, while this thread allocates */
    atomic_store(&child_busy, 1);
    pthread_t f;
    if (pthread_create(&f, NULL, child_forker, NULL) != 0) _exit(11);
    for (int i = 0; atomic_load(&child_busy); i++) {
      void *p = malloc(size_for(&rs));
      if (!p) _exit(12);
      free(p);
    }
    void *st = NULL;
    pthread_join(f, &st);
    int status = (int)(intptr_t)st;
    if (status == -1) _exit(13);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) _exit(WIFEXITED(status) ? 30 + (WEXITSTATUS(status) & 15) : 14);
  }
  if (k % 2) exit(0);
  _exit(0);
}

static int forks_failed;
static atomic_int forks_with_purge_thread;

static void do_forks(int n, unsigned long long seed) {
  for (int i = 0; i < n; i++) {
    if (purge_thread_running()) atomic_fetch_add(&forks_with_purge_thread, 1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      CHECKF(0, "fork failed: %s", strerror(errno));
      return;
    }
    if (pid == 0) child(seed + (unsigned long long)i, i);
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
  printf("fork: %d of %d forks while the purge thread ran\n", atomic_load(&forks_with_purge_thread), forks);
  CHECKF(atomic_load(&forks_with_purge_thread) > 0, "no fork happened while hakmem's purge thread ran");
  return check_exit("fork");
}
