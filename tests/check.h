/* check.h — the test suite's tiny assertion helper.
 *
 *   CHECK(expr)              count a failure and print file:line and the expression
 *   CHECKF(expr, fmt, ...)   same, with a printf-style explanation
 *   check_exit()             print the summary; returns the process exit status
 *
 * Failures are counted atomically (threads may CHECK); only the first
 * CHECK_MAX_PRINT are printed, so a check inside a loop cannot flood the log.
 *
 * hakmem's extension functions are looked up at run time with dlsym (hk_*), so
 * one source serves a binary linked with -lhakmem and a plain binary run under
 * LD_PRELOAD. hk_require() fails the test when hakmem is not loaded, unless
 * HAKTEST_ALLOW_GLIBC=1 is set (useful to debug a test against glibc).
 */
#ifndef HAKTEST_CHECK_H
#define HAKTEST_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"

#ifndef CHECK_MAX_PRINT
#define CHECK_MAX_PRINT 40
#endif

static long check_failures_;
static long check_count_;

#if defined(__GNUC__)
#define CHECK_UNUSED __attribute__((unused))
#else
#define CHECK_UNUSED
#endif

static CHECK_UNUSED void check_fail_(const char *file, int line, const char *expr,
                                     const char *fmt, ...) {
  long n = __atomic_add_fetch(&check_failures_, 1, __ATOMIC_RELAXED);
  if (n > CHECK_MAX_PRINT) return;
  char msg[512] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
  }
  fprintf(stderr, "%s:%d: CHECK failed: %s%s%s\n", file, line, expr, fmt ? " -- " : "", msg);
  if (n == CHECK_MAX_PRINT) fprintf(stderr, "(further CHECK failures are counted, not printed)\n");
  fflush(stderr);
}

#define CHECK(e)                                                             \
  do {                                                                       \
    __atomic_add_fetch(&check_count_, 1, __ATOMIC_RELAXED);                  \
    if (!(e)) check_fail_(__FILE__, __LINE__, #e, NULL);                     \
  } while (0)

#define CHECKF(e, ...)                                                       \
  do {                                                                       \
    __atomic_add_fetch(&check_count_, 1, __ATOMIC_RELAXED);                  \
    if (!(e)) check_fail_(__FILE__, __LINE__, #e, __VA_ARGS__);              \
  } while (0)

/* Abort the test right away (for states where continuing makes no sense). */
#define REQUIRE(e)                                                           \
  do {                                                                       \
    if (!(e)) {                                                              \
      check_fail_(__FILE__, __LINE__, #e, "fatal, stopping");                \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

static CHECK_UNUSED long check_failures(void) {
  return __atomic_load_n(&check_failures_, __ATOMIC_RELAXED);
}

static CHECK_UNUSED int check_exit(const char *name) {
  long f = check_failures();
  long n = __atomic_load_n(&check_count_, __ATOMIC_RELAXED);
  if (f) fprintf(stderr, "%s: %ld of %ld checks failed\n", name, f, n);
  else fprintf(stdout, "%s: all %ld checks passed\n", name, n);
  fflush(stdout);
  fflush(stderr);
  return f ? 1 : 0;
}

/* ---- hakmem's extension API, found at run time ---- */
static CHECK_UNUSED int (*hk_owns)(const void *);
static CHECK_UNUSED void (*hk_stats_get)(hak_stats_t *);
static CHECK_UNUSED void (*hk_collect)(void);

/* Returns 1 if hakmem is loaded. Exits with failure if it is not, unless
 * HAKTEST_ALLOW_GLIBC=1. */
/* fork() for a test that runs a part in a child process (a fresh heap, limit
 * or cache each time): output flushed first, and in the child the counters
 * start at zero so its exit status counts its own checks only. */
static CHECK_UNUSED pid_t check_fork(void) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    check_failures_ = 0;
    check_count_ = 0;
  }
  return pid;
}

static CHECK_UNUSED int hk_require(void) {
  *(void **)&hk_owns = dlsym(RTLD_DEFAULT, "hak_owns");
  *(void **)&hk_stats_get = dlsym(RTLD_DEFAULT, "hak_stats_get");
  *(void **)&hk_collect = dlsym(RTLD_DEFAULT, "hak_collect");
  if (hk_owns && hk_stats_get && hk_collect) return 1;
  const char *allow = getenv("HAKTEST_ALLOW_GLIBC");
  if (allow && strcmp(allow, "1") == 0) {
    hk_owns = NULL;
    hk_stats_get = NULL;
    hk_collect = NULL;
    fprintf(stderr, "note: hakmem not loaded, running against the system allocator\n");
    return 0;
  }
  fprintf(stderr, "FATAL: hakmem is not loaded (hak_owns not found); set HAKTEST_ALLOW_GLIBC=1 to run anyway\n");
  exit(1);
}

/* hak_owns(p), or 1 when running against glibc on purpose. */
static CHECK_UNUSED int hk_owned(const void *p) { return hk_owns ? hk_owns(p) : 1; }

/* Resident set size in bytes, from /proc/self/status (VmRSS). */
static CHECK_UNUSED size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kb = strtoul(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kb * 1024;
}

/* Is hakmem's purge thread (named "hakmem-purge") running in this process?
 * Reads /proc/self/task (opendir and fopen allocate). */
static CHECK_UNUSED int purge_thread_running(void) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return 0;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (fgets(comm, sizeof comm, f) && strncmp(comm, "hakmem-purge", 12) == 0) found = 1;
    fclose(f);
  }
  closedir(d);
  return found;
}

/* xorshift64* — deterministic per-seed random numbers. */
static CHECK_UNUSED unsigned long long rng_next(unsigned long long *s) {
  unsigned long long x = *s ? *s : 0x9E3779B97F4A7C15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}
static CHECK_UNUSED unsigned long long rng_below(unsigned long long *s, unsigned long long n) {
  return n ? rng_next(s) % n : 0;
}

#endif
