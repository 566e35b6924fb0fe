/* unwind.c — the profiler's stack walk (src/unwind.c) gives the frames
 * glibc's backtrace() gives, from the same function: through deep recursion
 * (and stops at the depth asked), rbp-based frames (VLAs, alloca), code at
 * -O0 and -O2 with and without frame pointers (tests/unwind_frames.c, built
 * four ways), libc's qsort calling back, several threads at once, and in a
 * signal handler, where it must stop at the signal frame and say so. A
 * second walk from the same place is served by the cache and is the same.
 *
 * hak_unwind is hidden in libhakmem.so: this program links libhakmem.a. */
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "check.h"
#include "../src/unwind.h"

#define MAXF 1024

typedef void (*leaf_fn)(void *arg);
typedef int (*step_fn)(int n, leaf_fn leaf, void *arg, const void *table);

#define VARIANT_DECLS(V)                                                   \
  int recurse_##V(int n, leaf_fn leaf, void *arg, const void *table);     \
  int vla_##V(int n, leaf_fn leaf, void *arg, const void *table);         \
  int with_alloca_##V(int n, leaf_fn leaf, void *arg, const void *table); \
  int mix_##V(int n, leaf_fn leaf, void *arg, const void *table);
VARIANT_DECLS(o0fp)
VARIANT_DECLS(o0nofp)
VARIANT_DECLS(o2fp)
VARIANT_DECLS(o2nofp)

static const step_fn table[12] = {mix_o0fp, mix_o0nofp, mix_o2fp, mix_o2nofp,
                                  vla_o0fp, vla_o0nofp, vla_o2fp, vla_o2nofp,
                                  with_alloca_o0fp, with_alloca_o0nofp, with_alloca_o2fp, with_alloca_o2nofp};

typedef struct cap_s {
  int max;
  int nu, nb;
  hak_unwind_status_t st;
  uintptr_t u[MAXF];
  void *b[MAXF];
} cap_t;

/* both walks, from the same function */
__attribute__((noinline)) static void capture_both(void *arg) {
  cap_t *c = arg;
  c->nu = hak_unwind(c->u, c->max, &c->st);
  c->nb = backtrace(c->b, c->max);
  __asm__ volatile("" ::: "memory");
}

static const char *st_name(hak_unwind_status_t st) {
  static const char *const names[] = {"end", "full", "unknown", "bad"};
  return (unsigned)st < 4 ? names[st] : "?";
}

static int in_capture_both(uintptr_t a) { return a - (uintptr_t)capture_both < 4096; }

/* The frames above capture_both are the same; a complete walk has as many
 * as backtrace(). backtrace()'s list may start with extra frames (TSan
 * intercepts it): it is compared from its frame in capture_both on. Returns
 * the number of mismatches (printed, the first). */
static int compare(const char *what, const cap_t *c, int want_complete) {
  int bad = 0, k = 0;
  if (c->nu < 1 || !in_capture_both(c->u[0])) {
    CHECKF(0, "%s: first frame %#lx is not in capture_both (%p), %d frames", what, c->nu > 0 ? (unsigned long)c->u[0] : 0UL,
           (void *)capture_both, c->nu);
    return 1;
  }
  while (k < c->nb && k < 4 && !in_capture_both((uintptr_t)c->b[k])) k++;
  if (k == c->nb && c->nb == c->max && c->st == HAK_UNWIND_FULL) return 0; /* backtrace() filled max with extra frames */
  if (k == c->nb || k == 4) {
    CHECKF(0, "%s: backtrace() has no frame in capture_both", what);
    return 1;
  }
  int nb = c->nb - k, n = c->nu < nb ? c->nu : nb;
  for (int i = 1; i < n; i++) {
    if (c->u[i] != (uintptr_t)c->b[i + k]) {
      if (bad++ == 0) CHECKF(0, "%s: frame %d: unwind %#lx, backtrace %p (%d and %d frames, %s)", what, i, (unsigned long)c->u[i], c->b[i + k],
                             c->nu, nb, st_name(c->st));
    }
  }
  if (want_complete) {
    bool complete = c->st == HAK_UNWIND_END || c->st == HAK_UNWIND_FULL;
    CHECKF(complete, "%s: the walk stopped early (%s) after %d of %d frames", what, st_name(c->st), c->nu, nb);
    /* (a walk of max frames: backtrace() lost k of its max to the extra frames) */
    bool same = c->st == HAK_UNWIND_FULL ? c->nu == c->max : c->nu == nb;
    CHECKF(same, "%s: %d frames, backtrace %d (%s)", what, c->nu, nb, st_name(c->st));
    if (!complete || !same) bad++;
  }
  return bad;
}

static cap_t *cap_new(int max) {
  cap_t *c = calloc(1, sizeof(cap_t));
  REQUIRE(c != NULL);
  c->max = max;
  return c;
}

/* ---- single thread ---------------------------------------------------------------- */
static void test_shapes(void) {
  cap_t *c = cap_new(MAXF);
  struct {
    const char *name;
    step_fn fn;
    const void *tab;
  } cases[] = {
      {"recurse -O0 fp", recurse_o0fp, NULL},       {"recurse -O0 nofp", recurse_o0nofp, NULL},
      {"recurse -O2 fp", recurse_o2fp, NULL},       {"recurse -O2 nofp", recurse_o2nofp, NULL},
      {"vla -O0 fp", vla_o0fp, NULL},               {"vla -O0 nofp", vla_o0nofp, NULL},
      {"vla -O2 fp", vla_o2fp, NULL},               {"vla -O2 nofp", vla_o2nofp, NULL},
      {"alloca -O0 fp", with_alloca_o0fp, NULL},    {"alloca -O0 nofp", with_alloca_o0nofp, NULL},
      {"alloca -O2 fp", with_alloca_o2fp, NULL},    {"alloca -O2 nofp", with_alloca_o2nofp, NULL},
      {"mixed variants", mix_o2nofp, table},        {"mixed from vla", vla_o2nofp, table},
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    for (int depth = 0; depth < 40; depth += 13) {
      char what[80];
      snprintf(what, sizeof what, "%s, depth %d", cases[k].name, depth);
      memset(c->u, 0, sizeof(c->u));
      cases[k].fn(depth, capture_both, c, cases[k].tab);
      CHECKF(c->st == HAK_UNWIND_END, "%s: walk ended %s", what, st_name(c->st));
      compare(what, c, 1);
    }
  }
  free(c);
}

/* hundreds of frames; the depth asked for is honoured */
static void test_deep(void) {
  cap_t *c = cap_new(MAXF);
  recurse_o2nofp(600, capture_both, c, NULL);
  CHECKF(c->nu > 600, "deep: %d frames", c->nu);
  compare("deep recursion, 600", c, 1);
  mix_o0fp(700, capture_both, c, table);
  compare("deep mixed recursion, 700", c, 1);
  for (int max = 1; max <= 64; max = max * 2 + 1) {
    c->max = max;
    recurse_o2fp(300, capture_both, c, NULL);
    char what[64];
    snprintf(what, sizeof what, "deep recursion, max %d", max);
    CHECKF(c->nu == max && c->st == HAK_UNWIND_FULL, "%s: %d frames (%s)", what, c->nu, st_name(c->st));
    compare(what, c, 1);
  }
  free(c);
}

/* through libc: the comparator captures once, inside qsort */
static cap_t *qsort_cap;
static int qsort_taken;
static int cmp_int(const void *a, const void *b) {
  if (!qsort_taken) {
    qsort_taken = 1;
    recurse_o2nofp(3, capture_both, qsort_cap, NULL);
  }
  int x = *(const int *)a, y = *(const int *)b;
  return x < y ? -1 : x > y;
}
static void test_qsort(void) {
  qsort_cap = cap_new(MAXF);
  int v[64];
  for (int i = 0; i < 64; i++) v[i] = (i * 37) % 64;
  qsort(v, 64, sizeof(int), cmp_int);
  CHECK(qsort_taken);
  compare("qsort comparator", qsort_cap, 1);
  Dl_info info;
  int in_libc = 0;
  for (int i = 1; i < qsort_cap->nu; i++)
    if (dladdr((void *)qsort_cap->u[i], &info) && info.dli_fname && strstr(info.dli_fname, "libc.so")) in_libc++;
  CHECKF(in_libc >= 2, "qsort: %d frames in libc.so (want the sort and the start)", in_libc);
  free(qsort_cap);
}

/* a second walk from the same place comes from the cache, unchanged */
__attribute__((noinline)) static void cache_walk(cap_t *c) {
  mix_o2fp(17, capture_both, c, table);
  __asm__ volatile("" ::: "memory");
}
static void test_cache(void) {
  cap_t *a = cap_new(MAXF), *b = cap_new(MAXF);
  for (volatile int round = 0; round < 2; round++) { /* volatile: not peeled */
    uint32_t before = hak_unwind_cached();
    cache_walk(round ? b : a);
    uint32_t added = hak_unwind_cached() - before;
    if (round == 0) CHECKF(added > 0 || before > 0, "cache: nothing cached after a walk");
    else CHECKF(added == 0, "cache: the second walk added %u rules", added);
  }
  CHECK(a->nu == b->nu && a->st == b->st);
  CHECK(memcmp(a->u + 1, b->u + 1, (size_t)(a->nu - 1) * sizeof(uintptr_t)) == 0);
  compare("cached walk", b, 1);
  free(a);
  free(b);
}

/* ---- threads -------------------------------------------------------------------------- */
static void *thread_main(void *arg) {
  unsigned long long seed = (uintptr_t)arg;
  cap_t *c = cap_new(MAXF);
  int mismatches = 0;
  for (int i = 0; i < 3000 && mismatches < 3; i++) {
    int depth = (int)rng_below(&seed, 60);
    step_fn fn = table[rng_below(&seed, 12)];
    fn(depth, capture_both, c, table);
    char what[64];
    snprintf(what, sizeof what, "thread %lu, round %d", (unsigned long)(uintptr_t)arg, i);
    mismatches += compare(what, c, 1);
  }
  free(c);
  return NULL;
}
static void test_threads(void) {
  pthread_t t[4];
  for (uintptr_t i = 0; i < 4; i++) REQUIRE(pthread_create(&t[i], NULL, thread_main, (void *)(i + 1)) == 0);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
}

/* ---- a signal handler ---------------------------------------------------------------------- */
static cap_t *sig_cap;
static void on_signal(int sig) {
  (void)sig;
  recurse_o2nofp(2, capture_both, sig_cap, NULL);
}
static void raise_it(void *arg) {
  (void)arg;
  raise(SIGUSR1);
}
static void check_signal_walk(const char *what) {
  cap_t *c = sig_cap;
  /* handler frames, then __restore_rt: its FDE is a signal frame ('S') */
  CHECKF(c->st == HAK_UNWIND_UNKNOWN, "%s: walk ended %s after %d frames (backtrace %d)", what, st_name(c->st), c->nu, c->nb);
  CHECKF(c->nu >= 4 && c->nu < c->nb - 1, "%s: %d frames, backtrace %d", what, c->nu, c->nb);
  compare(what, c, 0);
}
static void test_signal(void) {
  sig_cap = cap_new(MAXF);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
  recurse_o0fp(5, raise_it, NULL, NULL);
  check_signal_walk("signal handler");
  /* on an alternate stack: the walk starts there and stops at the signal frame */
  stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0};
  REQUIRE(ss.ss_sp != NULL && sigaltstack(&ss, NULL) == 0);
  sa.sa_flags = SA_ONSTACK;
  REQUIRE(sigaction(SIGUSR1, &sa, NULL) == 0);
  memset(sig_cap->u, 0, sizeof(sig_cap->u));
  mix_o2nofp(7, raise_it, NULL, table);
  check_signal_walk("signal handler on sigaltstack");
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, NULL);
  signal(SIGUSR1, SIG_DFL);
  free(sig_cap);
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  void *prime[4];
  backtrace(prime, 4); /* loads libgcc_s */
  test_threads(); /* first: the threads race to fill an empty cache */
  test_shapes();
  test_deep();
  test_qsort();
  test_cache();
  test_signal();
  return check_exit("unwind");
}
