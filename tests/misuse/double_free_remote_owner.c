/* misuse: secure only. A block freed by another thread (it waits on its
 * page's remote list), then again by its owner: the block carries secure
 * mode's remote tag, so the owner's free is refused. */
#include <pthread.h>

#include "misuse.h"
static void *frees(void *arg) {
  char **v = arg;
  free(v[2]);
  free(v[4]); /* another free between */
  return NULL;
}
int main(void) {
  char *v[8];
  for (int i = 0; i < 8; i++) v[i] = malloc(48);
  pthread_t t;
  if (pthread_create(&t, NULL, frees, v) != 0) return 1;
  pthread_join(t, NULL);
  char *again = misuse_launder(v[2]);
  misuse_expect_what("free()", again, "double free");
  free(again);
  return misuse_continue();
}
