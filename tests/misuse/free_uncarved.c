/* free() of a block-aligned address inside a page, past the blocks the page
 * has handed out so far (never carved). hak_owns says no; before the fix the
 * free fast path accepted it, and the block was later handed out twice. */
#include "misuse.h"
int main(void) {
  char *p = malloc(3000); /* 3 KiB class: blocks are carved one at a time */
  memset(p, 1, 3000);
  char *bad = misuse_launder(p + 5 * malloc_usable_size(p));
  int rc = hak_owns(bad) != 0;
  if (rc) printf("hak_owns(%p) = 1 for an uncarved block\n", (void *)bad);
  misuse_expect("free()", bad);
  free(bad);
  /* had the free been taken, the block would now be handed out twice: once
   * from the free list, once when the page carves it */
  void *q[20];
  for (int i = 0; i < 20; i++) {
    q[i] = malloc(3000);
    for (int j = 0; j < i; j++)
      if (q[j] == q[i]) { rc = 1; printf("malloc handed out %p twice\n", q[i]); }
  }
  for (int i = 0; i < 20; i++) free(q[i]);
  rc |= misuse_continue();
  free(p);
  return rc;
}
