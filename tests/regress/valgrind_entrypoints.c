/* valgrind_entrypoints.c — regression test (fixed; it failed before): under valgrind's memcheck (default
 * options), a hakmem-linked program that calls reallocarray or free_sized
 * is stopped by hakmem with "invalid pointer".
 *
 * memcheck replaces the allocation functions of every loaded object, so in
 * a program linked with -lhakmem (or run with LD_PRELOAD) malloc, free,
 * realloc, calloc, aligned_alloc, operator new... are valgrind's, not
 * hakmem's. valgrind 3.19 does not replace reallocarray, free_sized or
 * free_aligned_sized: those still reach hakmem, with a pointer from
 * valgrind's heap, and hakmem aborts: "hakmem: realloc(): invalid pointer
 * 0x...". glibc's own reallocarray goes through realloc, which memcheck
 * catches. The same happens with LD_PRELOAD: "LD_PRELOAD=libhakmem.so
 * valgrind ls /" reports an "Invalid free()" of an address in hakmem's
 * segments (ls calls reallocarray, which hakmem served, then free, which
 * valgrind did). Expected: the program (tests/valgrind_prog.c entrypoints: malloc,
 * reallocarray, free_sized) runs to its end with no error under memcheck.
 * What would fix it: make hakmem's reallocarray call the public realloc (and
 * free_sized/free_aligned_sized the public free), so the interception
 * covers them — or client requests (docs/RELIABILITY.md, "valgrind").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "valgrind_run.h"

int main(void) {
  char *out = NULL;
  int st = run_memcheck(NULL, "entrypoints", &out);
  CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "memcheck run: status 0x%x", st);
  CHECKF(strstr(out, "\ndone\n") != NULL, "the program did not run to its end");
  CHECKF(strstr(out, "invalid pointer") == NULL, "hakmem refused a pointer from valgrind's heap");
  if (check_failures()) fprintf(stderr, "--- memcheck output:\n%s", out);
  free(out);
  return check_exit("valgrind_entrypoints");
}
