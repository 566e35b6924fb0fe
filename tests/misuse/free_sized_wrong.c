/* misuse: secure only (the standard build ignores the size).
 * free_sized() with a size larger than the block: secure mode refuses it. */
#include "misuse.h"
void free_sized(void *p, size_t size);
int main(void) {
  char *p = malloc(100);
  char *q = malloc(100);
  free_sized(q, 100); /* right */
  misuse_expect_what("free_sized()", p, "wrong size");
  free_sized(misuse_launder(p), 4000);
  return misuse_continue();
}
