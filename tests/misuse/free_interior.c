/* free() of an interior pointer: malloc(64) + 8 */
#include "misuse.h"
int main(void) {
  char *p = malloc(64);
  memset(p, 1, 64);
  char *bad = misuse_launder(p + 8);
  misuse_expect("free()", bad);
  free(bad);
  int rc = misuse_continue();
  /* the real block is intact and can still be freed */
  for (int i = 0; i < 64; i++) if (p[i] != 1) rc = 1;
  free(p);
  return rc;
}
