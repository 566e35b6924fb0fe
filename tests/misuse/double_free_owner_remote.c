/* misuse: secure only. A block freed by its owner, then again by another
 * thread (a cross-thread double free): the remote free finds the block's
 * bit clear in the block bitmap and is refused. */
#include <pthread.h>

#include "misuse.h"
static void *again(void *p) {
  misuse_expect_what("free()", p, "double free");
  free(p);
  return NULL;
}
int main(void) {
  char *v[8];
  for (int i = 0; i < 8; i++) v[i] = malloc(48);
  free(v[2]);
  free(v[4]); /* another free between */
  pthread_t t;
  if (pthread_create(&t, NULL, again, misuse_launder(v[2])) != 0) return 1;
  pthread_join(t, NULL);
  return misuse_continue();
}
