/* free() of the block-aligned address just past the last block that fits in
 * an 80 KiB-class page (the page's slack: 4 KiB before the segment's end).
 * Before the fix the free fast path accepted it, and malloc would then hand
 * out a "block" overlapping the next segment's header. */
#include <stdint.h>

#include "misuse.h"
#define SEGMENT ((uintptr_t)4 << 20)
#define HEADER ((uintptr_t)12 << 10)
int main(void) {
  char *p = malloc(80 << 10);
  memset(p, 1, 80 << 10);
  uintptr_t bsize = malloc_usable_size(p);
  uintptr_t seg = (uintptr_t)p & ~(SEGMENT - 1);
  uintptr_t fits = (SEGMENT - HEADER) / bsize;
  char *bad = misuse_launder((char *)(seg + HEADER + fits * bsize));
  int rc = hak_owns(bad) != 0;
  if (rc) printf("hak_owns(%p) = 1 for the page's slack\n", (void *)bad);
  misuse_expect("free()", bad);
  free(bad);
  rc |= misuse_continue();
  free(p);
  return rc;
}
