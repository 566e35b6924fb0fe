/* free() of the address of a static array (16-aligned, looks plausible) */
#include "misuse.h"
static char arr[4096] __attribute__((aligned(4096)));
int main(void) {
  arr[0] = 1;
  char *bad = misuse_launder(arr + 16);
  misuse_expect("free()", bad);
  free(bad);
  return misuse_continue();
}
