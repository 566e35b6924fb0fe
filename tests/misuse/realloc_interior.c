/* realloc() of an interior pointer */
#include "misuse.h"
int main(void) {
  char *p = malloc(64);
  memset(p, 3, 64);
  char *bad = misuse_launder(p + 16);
  misuse_expect("realloc()", bad);
  void *q = realloc(bad, 1000);
  printf("realloc returned %s\n", q ? "non-NULL" : "NULL");
  int rc = misuse_continue();
  for (int i = 0; i < 64; i++) if (p[i] != 3) rc = 1;
  free(p);
  return rc;
}
