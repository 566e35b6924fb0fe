/* free() twice of a small block by the thread that owns it (the second free
 * comes right after the first: the block is the head of its page's free
 * list). Before the fix the list pointed to itself and every later
 * malloc(48) returned the same address. */
#include "misuse.h"
int main(void) {
  char *p = malloc(48);
  char *keep = malloc(48);
  memset(p, 1, 48);
  memset(keep, 2, 48);
  free(p);
  char *again = misuse_launder(p);
  misuse_expect_what("free()", again, "double free");
  free(again);
  /* the refused free changed nothing: two allocations are two blocks */
  char *a = malloc(48), *b = malloc(48);
  int rc = a == NULL || b == NULL || a == b;
  if (rc) printf("malloc(48) returned %p twice\n", (void *)a);
  free(a);
  free(b);
  rc |= misuse_continue();
  for (int i = 0; i < 48; i++) if (keep[i] != 2) rc = 1;
  free(keep);
  return rc;
}
