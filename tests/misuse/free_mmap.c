/* free() of a page that came from mmap, not from the allocator */
#include <sys/mman.h>
#include "misuse.h"
int main(void) {
  char *page = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 99;
  page[0] = 1;
  char *bad = misuse_launder(page + 4096);
  misuse_expect("free()", bad);
  free(bad);
  int rc = misuse_continue();
  munmap(page, 1 << 20);
  return rc;
}
