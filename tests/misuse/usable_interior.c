/* malloc_usable_size() of an interior pointer */
#include "misuse.h"
int main(void) {
  char *p = malloc(100);
  memset(p, 4, 100);
  char *bad = misuse_launder(p + 8);
  misuse_expect("malloc_usable_size()", bad);
  size_t u = malloc_usable_size(bad);
  printf("malloc_usable_size returned %zu\n", u);
  int rc = misuse_continue();
  free(p);
  return rc;
}
