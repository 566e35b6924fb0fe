/* misuse: secure only (the standard build catches only a block freed twice
 * in a row). free() twice of a small block by its owner with another free in
 * between: secure mode's block bitmap refuses the second free. */
#include "misuse.h"
int main(void) {
  char *a = malloc(48), *b = malloc(48), *c = malloc(48);
  free(a);
  free(b);
  char *again = misuse_launder(a);
  misuse_expect_what("free()", again, "double free");
  free(again);
  char *x = malloc(48), *y = malloc(48), *z = malloc(48);
  int rc = x == y || y == z || x == z || x == c || y == c || z == c;
  free(x);
  free(y);
  free(z);
  free(c);
  rc |= misuse_continue();
  return rc;
}
