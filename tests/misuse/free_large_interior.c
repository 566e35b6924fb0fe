/* free() of a pointer one page into a large (own-mapping) block */
#include "misuse.h"
int main(void) {
  char *p = malloc(8 << 20);
  memset(p, 2, 8 << 20);
  char *bad = misuse_launder(p + 4096);
  misuse_expect("free()", bad);
  free(bad);
  int rc = misuse_continue();
  if (p[0] != 2 || p[(8 << 20) - 1] != 2) rc = 1;
  free(p);
  return rc;
}
