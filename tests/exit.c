/* exit.c — process exit while the allocator is in use: atexit handlers,
 * late library destructors, threads still allocating.
 *
 * usage: exit             every scenario, each in a fresh process (this
 *                         program re-executed) whose exit path is the test
 *        exit SCENARIO    one scenario, in this process
 *
 * A plain program run under LD_PRELOAD, linked with libexit_late.so
 * (tests/exit_late.c), whose destructor runs after hakmem's own exit
 * handling, frees blocks of threads that are gone or still running, grows a
 * block to 8 MiB and prints "exit_late: destructor ran". In every scenario
 * four threads allocate and free all size ranges (and publish blocks for the
 * late destructor), and three atexit handlers allocate and free: the first
 * registered frees the blocks the threads published, the second grows a
 * block to 8 MiB and registers a third from inside the exit handlers.
 * Scenarios:
 *   return        main returns while the threads allocate
 *   exit-thread   a thread calls exit() while main and the others allocate
 *   pthread_exit  main calls pthread_exit() with blocks live; the threads
 *                 finish their work and the last one's exit runs the handlers
 *   quick_exit    a thread calls quick_exit(); two at_quick_exit handlers
 *                 allocate and free (no atexit handler or destructor runs)
 * The parent checks each run's exit status (0; a crash or a hang — 20 s —
 * fails) and its output: every handler's line, in order, then the late
 * destructor's line; with HAKMEM_STATS=1 in the environment, hakmem's stats
 * block must come before the late destructor's line (so it did run after
 * hakmem's exit handling).
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

#define NLATE 256
extern void *exit_late_blocks[NLATE];
extern int exit_late_armed;

#define MiB ((size_t)1 << 20)
#define NWORKERS 4

static void say(const char *s) { (void)!write(1, s, strlen(s)); }

static void die(const char *s) {
  (void)!write(2, s, strlen(s));
  _exit(2);
}

/* ------------------------------------------------------------ the threads */
static _Atomic(void *) published[64]; /* blocks for the first atexit handler */
static atomic_int workers_stop;      /* 1: return after the current round */
static long worker_rounds = -1;      /* < 0: forever */

static void *worker(void *arg) {
  unsigned long long rs = (uintptr_t)arg * 131 + 7;
  void *mine[32] = {0};
  for (long round = 0; worker_rounds < 0 || round < worker_rounds; round++) {
    for (int i = 0; i < 32; i++) {
      free(mine[i]);
      unsigned r = (unsigned)rng_below(&rs, 100);
      size_t n = r < 85 ? 1 + rng_below(&rs, 1000) : r < 98 ? 1000 + rng_below(&rs, 100000) : MiB + rng_below(&rs, MiB);
      mine[i] = malloc(n);
      if (mine[i] == NULL) die("worker: malloc failed\n");
      memset(mine[i], 0x42, n < 128 ? n : 128);
    }
    void *p = malloc(64 + rng_below(&rs, 4000));
    if (p == NULL) die("worker: malloc failed\n");
    free(atomic_exchange(&published[rng_below(&rs, 64)], p));
    void *q = malloc(32 + rng_below(&rs, 300));
    if (q == NULL) die("worker: malloc failed\n");
    free(__atomic_exchange_n(&exit_late_blocks[rng_below(&rs, NLATE)], q, __ATOMIC_ACQ_REL));
    if (atomic_load(&workers_stop)) break;
  }
  for (int i = 0; i < 32; i++) free(mine[i]);
  return NULL;
}

static pthread_t workers[NWORKERS];
static void start_workers(void) {
  for (intptr_t i = 0; i < NWORKERS; i++)
    if (pthread_create(&workers[i], NULL, worker, (void *)i) != 0) die("pthread_create failed\n");
}

/* --------------------------------------------------------- exit handlers */
static void handler3(void) {
  void *v[100];
  for (int i = 0; i < 100; i++) v[i] = malloc((size_t)i * 300 + 1);
  for (int i = 0; i < 100; i++) free(v[i]);
  say("atexit: 3\n");
}

static void handler2(void) {
  char *p = NULL;
  for (size_t n = 8; n <= 8 * MiB; n *= 2) {
    char *q = realloc(p, n);
    if (q == NULL) die("handler2: realloc failed\n");
    q[n - 1] = 2;
    p = q;
  }
  free(p);
  char *s = NULL;
  if (asprintf(&s, "atexit: %d\n", 2) < 0) die("handler2: asprintf failed\n");
  say(s);
  free(s);
  if (atexit(handler3) != 0) die("atexit from an exit handler failed\n");
}

static void handler1(void) {
  for (int i = 0; i < 64; i++) free(atomic_exchange(&published[i], NULL));
  void *keep = calloc(1000, 1000);
  if (keep == NULL) die("handler1: calloc failed\n");
  free(keep);
  say("atexit: 1\n");
}

static void quick1(void) {
  for (int i = 0; i < 64; i++) free(atomic_exchange(&published[i], NULL));
  say("at_quick_exit: 1\n");
}
static void quick2(void) {
  char *s = strdup("at_quick_exit: 2\n");
  if (s == NULL) die("quick2: strdup failed\n");
  char *t = realloc(s, 3 * MiB);
  if (t == NULL) die("quick2: realloc failed\n");
  say(t);
  free(t);
}

/* -------------------------------------------------------------- scenarios */
static void *exit_from_thread(void *arg) {
  usleep(100 * 1000);
  if (arg) quick_exit(0);
  exit(0);
}

static int scenario(const char *name) {
  hk_require();
  alarm(20);
  exit_late_armed = 1;
  if (strcmp(name, "quick_exit") == 0) {
    if (at_quick_exit(quick1) != 0 || at_quick_exit(quick2) != 0) die("at_quick_exit failed\n");
  } else {
    if (atexit(handler1) != 0 || atexit(handler2) != 0) die("atexit failed\n");
  }
  if (strcmp(name, "return") == 0) {
    start_workers();
    usleep(150 * 1000);
    return 0; /* the workers are still allocating */
  }
  if (strcmp(name, "exit-thread") == 0 || strcmp(name, "quick_exit") == 0) {
    start_workers();
    pthread_t t;
    if (pthread_create(&t, NULL, exit_from_thread, strcmp(name, "quick_exit") == 0 ? (void *)1 : NULL) != 0)
      die("pthread_create failed\n");
    for (;;) free(malloc(100)); /* until the process goes */
  }
  if (strcmp(name, "pthread_exit") == 0) {
    worker_rounds = 2000;
    start_workers();
    for (int i = 0; i < 64; i++) free(atomic_exchange(&published[i], malloc(777))); /* main's blocks, live */
    pthread_exit(NULL); /* the last worker to end runs the exit handlers */
  }
  fprintf(stderr, "exit: unknown scenario '%s'\n", name);
  return 2;
}

/* ------------------------------------------------------------------ parent */
/* Run one scenario in a fresh process; return its output (malloc'ed). */
static char *run(const char *self, const char *name, int *status) {
  int fd[2];
  REQUIRE(pipe(fd) == 0);
  fflush(stdout);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fd[1], 1);
    dup2(fd[1], 2);
    close(fd[0]);
    close(fd[1]);
    execl(self, self, name, (char *)NULL);
    _exit(127);
  }
  close(fd[1]);
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap);
  REQUIRE(out);
  for (;;) {
    if (len + 4096 > cap) {
      cap *= 2;
      out = realloc(out, cap);
      REQUIRE(out);
    }
    ssize_t n = read(fd[0], out + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  out[len] = 0;
  close(fd[0]);
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
  return out;
}

/* The lines, in this order (other lines may be between them). */
static int in_order(const char *out, const char *const *lines, int n, const char **missing) {
  const char *at = out;
  for (int i = 0; i < n; i++) {
    const char *p = strstr(at, lines[i]);
    if (p == NULL) {
      *missing = lines[i];
      return 0;
    }
    at = p + strlen(lines[i]);
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc > 1) return scenario(argv[1]);
  hk_require();
  const char *stats = getenv("HAKMEM_STATS");
  int with_stats = stats != NULL && strcmp(stats, "1") == 0;
  static const char *const names[] = {"return", "exit-thread", "pthread_exit", "quick_exit"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    int st = 0;
    char *out = run("/proc/self/exe", names[k], &st);
    if (WIFSIGNALED(st))
      CHECKF(0, "%s: killed by signal %d (%s)%s", names[k], WTERMSIG(st), strsignal(WTERMSIG(st)),
             WTERMSIG(st) == SIGALRM ? ": hung" : "");
    else
      CHECKF(WEXITSTATUS(st) == 0, "%s: exit status %d", names[k], WEXITSTATUS(st));
    const char *missing = NULL;
    if (strcmp(names[k], "quick_exit") == 0) {
      static const char *const want[] = {"at_quick_exit: 2\n", "at_quick_exit: 1\n"};
      CHECKF(in_order(out, want, 2, &missing), "%s: no '%s' line in order", names[k], missing ? missing : "");
      CHECKF(strstr(out, "exit_late:") == NULL, "%s: destructors ran after quick_exit", names[k]);
    } else {
      /* the last registered runs first; one registered during exit runs next */
      const char *seq[5] = {"atexit: 2\n", "atexit: 3\n", "atexit: 1\n"};
      int n = 3;
      if (with_stats) seq[n++] = "hakmem: stats pid";
      seq[n++] = "exit_late: destructor ran\n";
      CHECKF(in_order(out, seq, n, &missing), "%s: no '%s' line in order", names[k], missing ? missing : "");
    }
    if (check_failures() > 0) fprintf(stderr, "--- output of %s:\n%s---\n", names[k], out);
    else printf("%s: exit status 0, handlers in order\n", names[k]);
    free(out);
  }
  return check_exit("exit");
}
