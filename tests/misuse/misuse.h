/* misuse.h — shared by the tests/misuse programs.
 *
 * Each program makes one invalid call. Before it, it prints to stdout
 *   expect FUNCTION ADDRESS [WHAT]
 * (the function named in hakmem's message, the pointer it must report and
 * what it must call it: "invalid pointer" unless WHAT says otherwise);
 * after it, if the process is still alive (HAKMEM_INVALID_FREE=warn|ignore),
 * it checks the allocator still works, prints "continued" and exits 0.
 * tests/run checks stderr, the exit status and the stats. Nothing else may be
 * written to stderr.
 */
#ifndef MISUSE_H
#define MISUSE_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

/* Hide the pointer's origin from the compiler (no -Wfree-nonheap-object,
 * no reasoning about the call). */
static inline void *misuse_launder(void *p) {
  __asm__ volatile("" : "+r"(p));
  return p;
}

static inline void misuse_expect(const char *fn, const void *p) {
  printf("expect %s %p\n", fn, p);
  fflush(stdout);
}

static inline void misuse_expect_what(const char *fn, const void *p, const char *what) {
  printf("expect %s %p %s\n", fn, p, what);
  fflush(stdout);
}

/* After the bad call: the heap must still be usable. */
static inline int misuse_continue(void) {
  int bad = 0;
  void *v[100];
  for (int i = 0; i < 100; i++) {
    v[i] = malloc((size_t)i * 37 + 1);
    if (!v[i] || !hak_owns(v[i])) bad = 1;
    else memset(v[i], i, (size_t)i * 37 + 1);
  }
  for (int i = 0; i < 100; i++) free(v[i]);
  hak_stats_t st;
  hak_stats_get(&st);
  printf("invalid_frees %llu\n", (unsigned long long)st.invalid_frees);
  printf(bad ? "broken\n" : "continued\n");
  fflush(stdout);
  return bad;
}
#endif
