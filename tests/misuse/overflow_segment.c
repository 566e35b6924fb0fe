/* misuse: secure only (guard pages).
 * A linear overflow off the last block of a segment: in secure mode the
 * segment's last 4 KiB are a guard page and the first byte past the block
 * faults (SIGSEGV) instead of landing in the next segment's header. 4 KiB
 * blocks fill the last small page up to its guard exactly. */
#include <stdint.h>

#include "misuse.h"
#define SEG ((uintptr_t)4 << 20)
int main(void) {
  char *last = NULL;
  for (int i = 0; i < 20000 && last == NULL; i++) {
    char *p = malloc(4096);
    if (p == NULL) return 1;
    if ((((uintptr_t)p + 4096) & (SEG - 1)) == SEG - 4096) last = p;
  }
  if (last == NULL) { printf("no block ends at a segment's guard page\n"); return 1; }
  printf("expect-signal SEGV\n");
  fflush(stdout);
  memset(misuse_launder(last), 0x43, 4096 + 1);
  printf("wrote past %p\n", (void *)last);
  return misuse_continue();
}
