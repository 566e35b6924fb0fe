/* free() twice of a block above 512 KiB (a mapping of its own, kept in the
 * reuse cache after the first free). Before the fix the mapping entered the
 * cache twice: the next two malloc(8 MiB) returned the same address, and
 * malloc_trim(0) crashed. */
#include "misuse.h"
#define BIG ((size_t)8 << 20)
int main(void) {
  char *p = malloc(BIG);
  memset(p, 1, 4096);
  free(p);
  char *again = misuse_launder(p);
  misuse_expect_what("free()", again, "double free");
  free(again);
  char *a = malloc(BIG), *b = malloc(BIG);
  int rc = a == NULL || b == NULL || a == b;
  if (rc) printf("malloc(8 MiB) returned %p twice\n", (void *)a);
  memset(a, 5, BIG);
  memset(b, 6, BIG);
  if (a[BIG - 1] != 5) rc = 1;
  free(a);
  free(b);
  malloc_trim(0);
  rc |= misuse_continue();
  return rc;
}
