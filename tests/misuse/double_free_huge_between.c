/* free() twice of a block above 512 KiB with another huge free in between:
 * the first mapping waits in the reuse cache, not in use, and the second
 * free of it is refused. */
#include "misuse.h"
#define BIG ((size_t)8 << 20)
int main(void) {
  char *a = malloc(BIG), *b = malloc(BIG);
  memset(a, 1, 4096);
  memset(b, 2, 4096);
  free(a);
  free(b);
  char *again = misuse_launder(a);
  misuse_expect_what("free()", again, "double free");
  free(again);
  char *x = malloc(BIG), *y = malloc(BIG);
  int rc = x == NULL || y == NULL || x == y;
  free(x);
  free(y);
  rc |= misuse_continue();
  return rc;
}
