/* block_start.c — the free fast path's block-start test (src/internal.h:
 * hak_page_is_block_start) is exact: for every size class (block sizes read
 * back with malloc_usable_size), every byte offset within 4 MiB either side
 * of a page's first block, and a few carved counts, one multiply and one
 * compare accept exactly the starts of the carved blocks; and the reciprocal
 * still divides exactly (hak_page_collect, release.c, page_block_of). */
#include <malloc.h>

#include "check.h"
#include "../src/internal.h"

static void check_class(size_t bs) {
  size_t area = bs <= HAK_SMALL_MAX ? (size_t)1 << HAK_SMALL_PAGE_SHIFT
              : bs <= HAK_MEDIUM_MAX ? (size_t)1 << HAK_MEDIUM_PAGE_SHIFT : bs + 2 * ((size_t)1 << HAK_LARGE_PAGE_SHIFT);
  size_t reserved = area / bs, caps[2] = {1, reserved};
  hak_page_t page;
  memset(&page, 0, sizeof(page));
  page.start = (uint8_t *)((uintptr_t)1 << 40); /* never touched */
  page.block_size = bs;
  page.block_divisor = hak_block_divisor(bs);
  for (int k = 0; k < 2; k++) {
    size_t cap = caps[k];
    page.capacity = (uint16_t)cap;
    page.block_limit = cap * (page.block_divisor * bs);
    long bad = 0;
    for (int64_t off = -((int64_t)1 << 22); off < ((int64_t)1 << 22); off++) {
      bool fast = hak_page_is_block_start(&page, page.start + off);
      bool truth = off >= 0 && (size_t)off % bs == 0 && (size_t)off / bs < cap;
      if (fast != truth) bad++;
      if (off >= 0 && (size_t)off < cap * bs &&
          (size_t)(((unsigned __int128)(uint64_t)off * page.block_divisor) >> 64) != (size_t)off / bs)
        bad++;
    }
    CHECKF(bad == 0, "block size %zu, %zu carved: %ld offsets misjudged", bs, cap, bad);
  }
}

int main(void) {
  size_t last = 0, classes = 0;
  for (size_t n = 1; n <= HAK_LARGE_MAX; n += n < 1024 ? 1 : 16) {
    void *p = malloc(n);
    size_t bs = malloc_usable_size(p);
    free(p);
    if (bs == last) continue;
    last = bs;
    classes++;
    check_class(bs);
  }
  CHECKF(classes == HAK_CLASS_COUNT - 1, "%zu size classes seen", classes);
  return check_exit("block_start");
}
