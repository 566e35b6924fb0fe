/* misuse: secure only (the standard build follows the forged link).
 * A write into a block after it was freed: the block is the head of its
 * page's free list and the write lands on its link word. Secure mode decodes
 * the link when malloc takes the block, finds it points nowhere in the page
 * and stops the program instead of handing out an address the program chose. */
#include "misuse.h"
int main(void) {
  void *v[16];
  for (int i = 0; i < 16; i++) v[i] = malloc(48);
  free(v[3]);
  free(v[5]); /* the head of the page's free list, linked to v[3] */
  memset(misuse_launder(v[5]), 0x41, 16); /* use after free */
  misuse_expect_what("malloc()", v[5], "corrupted free list");
  void *a = malloc(48), *b = malloc(48);
  printf("malloc returned %p then %p\n", a, b);
  return misuse_continue();
}
