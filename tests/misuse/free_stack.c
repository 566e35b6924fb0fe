/* free() of a stack address */
#include "misuse.h"
int main(void) {
  char buf[256] __attribute__((aligned(64)));
  memset(buf, 0, sizeof buf);
  char *bad = misuse_launder(buf + 64);
  misuse_expect("free()", bad);
  free(bad);
  return misuse_continue();
}
