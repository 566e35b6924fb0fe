/* misuse: secure only (the standard build ignores size and alignment).
 * free_aligned_sized() with a size larger than the block: refused. */
#include "misuse.h"
void free_aligned_sized(void *p, size_t alignment, size_t size);
int main(void) {
  char *p = aligned_alloc(64, 256);
  char *q = aligned_alloc(64, 256);
  free_aligned_sized(q, 64, 256); /* right */
  misuse_expect_what("free_aligned_sized()", p, "wrong size");
  free_aligned_sized(misuse_launder(p), 64, 100000);
  return misuse_continue();
}
