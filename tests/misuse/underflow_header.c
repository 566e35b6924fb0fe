/* misuse: secure only (guard pages).
 * A write just before the first block of a segment: in secure mode the 4 KiB
 * between the segment header (page descriptors, block bitmap) and page 0 are
 * a guard page, so it faults (SIGSEGV) instead of rewriting the header. */
#include <stdint.h>

#include "misuse.h"
#define SEG ((uintptr_t)4 << 20)
int main(void) {
  char *first = NULL;
  for (int i = 0; i < 20000 && first == NULL; i++) {
    char *p = malloc(4096);
    if (p == NULL) return 1;
    if (((uintptr_t)p & (SEG - 1)) == 16 << 10) first = p;
  }
  if (first == NULL) { printf("no block starts a segment's page 0\n"); return 1; }
  printf("expect-signal SEGV\n");
  fflush(stdout);
  ((char *)misuse_launder(first))[-1] = 0x44;
  printf("wrote before %p\n", (void *)first);
  return misuse_continue();
}
