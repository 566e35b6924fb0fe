/* unwind_frames.c — frames for tests/unwind.c to walk through, compiled
 * once per variant (tests/tests.mk: -O0/-O2, with and without frame
 * pointers); V names the variant and suffixes every function. */
#include <alloca.h>
#include <stddef.h>

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define NAME(f) CAT(f, V)

typedef void (*leaf_fn)(void *arg);
typedef int (*step_fn)(int n, leaf_fn leaf, void *arg, const void *table);

int NAME(recurse)(int n, leaf_fn leaf, void *arg, const void *table);
int NAME(vla)(int n, leaf_fn leaf, void *arg, const void *table);
int NAME(with_alloca)(int n, leaf_fn leaf, void *arg, const void *table);
int NAME(mix)(int n, leaf_fn leaf, void *arg, const void *table);

/* plain frames: the work after the call keeps it from being a tail call */
__attribute__((noinline)) int NAME(recurse)(int n, leaf_fn leaf, void *arg, const void *table) {
  if (n <= 0) {
    leaf(arg);
    return 0;
  }
  int r = NAME(recurse)(n - 1, leaf, arg, table);
  __asm__ volatile("" : "+r"(r)::"memory");
  return r + 1;
}

/* a variable-length array: the CFA is rbp-based whatever the flags */
__attribute__((noinline)) int NAME(vla)(int n, leaf_fn leaf, void *arg, const void *table) {
  volatile char buf[(n & 7) * 24 + 8];
  buf[0] = (char)n;
  if (n <= 0) leaf(arg);
  else if (table != NULL) ((const step_fn *)table)[n % 12](n - 1, leaf, arg, table);
  else NAME(vla)(n - 1, leaf, arg, table);
  return buf[0];
}

__attribute__((noinline)) int NAME(with_alloca)(int n, leaf_fn leaf, void *arg, const void *table) {
  volatile char *buf = alloca((size_t)(n & 3) * 40 + 8);
  buf[0] = (char)n;
  if (n <= 0) leaf(arg);
  else if (table != NULL) ((const step_fn *)table)[n % 12](n - 1, leaf, arg, table);
  else NAME(with_alloca)(n - 1, leaf, arg, table);
  return buf[0];
}

/* each level calls the next through a table of the functions above in
 * every variant (vla and with_alloca too, when given the table) */
__attribute__((noinline)) int NAME(mix)(int n, leaf_fn leaf, void *arg, const void *table) {
  if (n <= 0) {
    leaf(arg);
    return 0;
  }
  const step_fn *t = table;
  int r = t[n % 12](n - 1, leaf, arg, table);
  __asm__ volatile("" : "+r"(r)::"memory");
  return r + 1;
}
