/* free() twice of a small block by a thread that does not own it (the
 * second free finds the block at the head of the page's remote-free list).
 * Before the fix the list became a cycle and the owner hung in its next
 * collection of remote frees. */
#include <pthread.h>

#include "misuse.h"

static void *twice(void *p) {
  free(p);
  void *again = misuse_launder(p);
  misuse_expect_what("free()", again, "double free");
  free(again);
  return NULL;
}

int main(void) {
  void *v[64];
  for (int i = 0; i < 64; i++) v[i] = malloc(48);
  pthread_t t;
  if (pthread_create(&t, NULL, twice, v[10]) != 0) return 1;
  pthread_join(t, NULL);
  /* the owner takes the remote frees back and hands blocks out again: all
   * distinct from each other and from the live ones */
  int rc = 0;
  void *w[4096];
  for (int i = 0; i < 4096; i++) {
    w[i] = malloc(48);
    if (w[i] == NULL) return 1;
    for (int j = 0; j < 64; j++) if (j != 10 && w[i] == v[j]) rc = 1;
    memset(w[i], 3, 48);
  }
  for (int i = 0; i < 4096 && !rc; i++)
    for (int k = 0; k < 48; k++) if (((unsigned char *)w[i])[k] != 3) { rc = 1; printf("block %p handed out twice\n", w[i]); break; }
  for (int i = 0; i < 4096; i++) free(w[i]);
  for (int i = 0; i < 64; i++) if (i != 10) free(v[i]);
  rc |= misuse_continue();
  return rc;
}
