/* misuse: secure only. Another thread frees a block, writes into it, frees
 * a second block, then frees the first again: its link word no longer says
 * it is free, so the second free is pushed and the page's remote list
 * becomes a cycle. The owner's collection counts more blocks than are in use
 * and stops the program. */
#include <pthread.h>

#include "misuse.h"
static void *frees(void *arg) {
  char **v = arg;
  free(v[0]);
  memset(misuse_launder(v[0]), 0, 8); /* use after free: the link word */
  free(v[1]);
  free(misuse_launder(v[0]));
  return NULL;
}
int main(void) {
  char *v[2] = {malloc(48), malloc(48)};
  printf("expect-fatal double free\n");
  fflush(stdout);
  pthread_t t;
  if (pthread_create(&t, NULL, frees, v) != 0) return 1;
  pthread_join(t, NULL);
  for (int i = 0; i < 100000; i++) if (malloc(48) == NULL) return 1;
  return misuse_continue();
}
