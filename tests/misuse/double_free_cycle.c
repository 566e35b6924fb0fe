/* A block freed twice by a thread that does not own it, with another block
 * freed between the two frees: the page's remote-free list becomes a cycle
 * the free path cannot see. Before the fix the owner spun forever in its next
 * collection of remote frees; now that collection notices it has walked more
 * blocks than are in use and stops the program with one line, whatever
 * HAKMEM_INVALID_FREE says (the heap is already corrupt). */
#include <pthread.h>

#include "misuse.h"

static void *frees(void *arg) {
  void **v = arg;
  free(v[0]);
  free(v[1]);
  free(misuse_launder(v[0]));
  return NULL;
}

int main(void) {
  void *v[2] = {malloc(48), malloc(48)};
  printf("expect-fatal double free\n");
  fflush(stdout);
  pthread_t t;
  if (pthread_create(&t, NULL, frees, v) != 0) return 1;
  pthread_join(t, NULL);
  /* use up the page's free blocks: the owner then collects the remote frees */
  for (int i = 0; i < 100000; i++) if (malloc(48) == NULL) return 1;
  return misuse_continue();
}
