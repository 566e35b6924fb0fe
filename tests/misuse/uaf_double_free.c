/* misuse: secure only. A block freed, written after the free (its link word
 * overwritten, so the free list no longer says it is free), then freed again
 * with another free in between: the second free is not refused, and the
 * block is on the free list twice. malloc hands it out once, clearing its
 * link; when the list leads to it again the cleared link does not decode
 * and the program stops before the block is handed out a second time. */
#include "misuse.h"
int main(void) {
  char *v[8];
  for (int i = 0; i < 8; i++) v[i] = malloc(48);
  free(v[2]);
  memset(misuse_launder(v[2]), 0, 8); /* use after free: the link word */
  free(v[4]);
  free(misuse_launder(v[2]));
  misuse_expect_what("malloc()", v[2], "corrupted free list");
  char *a = malloc(48), *b = malloc(48), *c = malloc(48);
  printf("malloc returned %p %p %p\n", (void *)a, (void *)b, (void *)c);
  return misuse_continue();
}
