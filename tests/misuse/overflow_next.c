/* misuse: secure only (the standard build follows the forged link).
 * A linear overflow off a block into the next one, which is free: the write
 * lands on the free block's link word. Secure mode stops at the next malloc
 * that takes that block. */
#include <stdint.h>

#include "misuse.h"
int main(void) {
  char *v[256];
  for (int i = 0; i < 256; i++) v[i] = malloc(48);
  int lo = -1, hi = -1; /* two neighbours: v[hi] == v[lo] + 48 */
  for (int i = 0; i < 256 && lo < 0; i++)
    for (int j = 0; j < 256; j++)
      if (v[j] == v[i] + 48) { lo = i; hi = j; break; }
  if (lo < 0) { printf("no two neighbouring blocks\n"); return 1; }
  free(v[hi]); /* the head of the free list */
  memset(misuse_launder(v[lo]), 0x42, 48 + 8); /* 8 bytes too many */
  misuse_expect_what("malloc()", v[hi], "corrupted free list");
  void *a = malloc(48), *b = malloc(48);
  printf("malloc returned %p then %p\n", a, b);
  return misuse_continue();
}
