/* free.c — everything free() does off its fast path (see hak_free_inline in
 * internal.h): rejecting foreign pointers, aligned interior pointers, large
 * blocks, and blocks owned by another thread.
 *
 * Cross-thread free (free-list sharding): the block is pushed with a CAS on
 * its page's xthread_free list, which only the owner ever empties. When the
 * owner parked the page in its full queue it armed the page (xthread_free ==
 * NOTIFY); the remote thread that finds it armed first swaps NOTIFY for QUEUED,
 * pushes the page on its segment's xpages list and raises the owner heap's
 * xpages_pending flag, and only then pushes its block. Holding the block until
 * the page is queued keeps the page (and segment) alive while it is touched. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

void hak_invalid_pointer(const char *fn, const void *p) {
  int saved = errno; /* free preserves errno, even when it refuses a pointer */
  hak_stat_add(invalid_frees, 1);
  /* Before start-up nothing can be ours, and glibc has been seen freeing a
   * pointer that was never malloc'ed during its own initialisation. */
  if (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2) return;
  if (hak_options.invalid == HAK_INVALID_IGNORE) return;
  char line[128], *q = line;
  const char *parts[] = {"hakmem: ", fn, "(): invalid pointer "};
  for (size_t i = 0; i < 3; i++) { size_t n = strlen(parts[i]); memcpy(q, parts[i], n); q += n; }
  q = hak_fmt_hex(q, (uintptr_t)p);
  *q++ = '\n';
  *q = 0;
  hak_write_stderr(line);
  if (hak_options.invalid == HAK_INVALID_ABORT) abort();
  errno = saved;
}

static void free_remote(hak_segment_t *seg, hak_page_t *page, hak_block_t *block) {
  uintptr_t old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  for (;;) {
    if (old == HAK_XFREE_NOTIFY) {
      if (atomic_compare_exchange_weak(&page->xthread_free, &old, HAK_XFREE_QUEUED)) {
        hak_page_t *head = atomic_load_explicit(&seg->xpages, memory_order_relaxed);
        do {
          page->xnext = head;
        } while (!atomic_compare_exchange_weak(&seg->xpages, &head, page));
        hak_heap_t *owner = atomic_load(&seg->owner);
        if (owner != NULL) atomic_store(&owner->xpages_pending, 1);
        old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
      }
      continue;
    }
    block->next = (hak_block_t *)(old & ~HAK_XFREE_BITS);
    if (atomic_compare_exchange_weak_explicit(&page->xthread_free, &old, (uintptr_t)block | (old & HAK_XFREE_QUEUED),
                                              memory_order_release, memory_order_relaxed))
      return;
  }
}

/* The start of the block that p points into, or NULL if p is not a pointer
 * hakmem handed out from this page. */
static void *page_block_of(hak_page_t *page, void *p) {
  if (!page->in_use || (uint8_t *)p < page->start) return NULL;
  size_t off = (size_t)((uint8_t *)p - page->start);
  size_t idx = off / page->block_size;
  if (idx >= page->capacity) return NULL;
  uint8_t *b = page->start + idx * page->block_size;
  if (b != (uint8_t *)p && !page->has_aligned) return NULL;
  return b;
}

void hak_free_generic(hak_segment_t *seg, hak_page_t *page, void *p, const char *fn) {
  int saved = errno;
  if (hak_unlikely(seg->cookie != ((uintptr_t)seg ^ hak_secret))) {
    hak_invalid_pointer(fn, p);
    return;
  }
  if (seg->kind == HAK_PAGE_HUGE) {
    if (p == seg->huge_block) {
      hak_large_free(seg);
    } else {
      hak_invalid_pointer(fn, p);
    }
    errno = saved;
    return;
  }
  hak_block_t *block = page_block_of(page, p);
  if (block == NULL) {
    hak_invalid_pointer(fn, p);
    return;
  }
  hak_heap_t *heap = hak_heap_tls;
  hak_heap_t *owner = hak_segment_owner(seg);
  if (owner == NULL && seg->abandoned && heap != &hak_heap_empty) {
    if (hak_segment_reclaim_for_free(heap, seg)) owner = heap;
  }
  if (owner == heap) {
    hak_page_free_local(heap, page, block);
  } else {
    free_remote(seg, page, block);
  }
  errno = saved;
}

/* usable size of p, with the same validation as free. */
size_t hak_usable_size_checked(const void *p, const char *fn) {
  if (p == NULL) return 0;
  hak_segment_t *seg = hak_segment_lookup(p);
  if (seg == NULL) {
    hak_invalid_pointer(fn, p);
    return 0;
  }
  if (seg->kind == HAK_PAGE_HUGE) return hak_large_usable(seg, p);
  hak_page_t *page = hak_segment_page_of(seg, p);
  uint8_t *b = page_block_of(page, (void *)p);
  if (b == NULL) {
    hak_invalid_pointer(fn, p);
    return 0;
  }
  return (size_t)(b + page->block_size - (const uint8_t *)p);
}

int hak_owns(const void *p) {
  hak_segment_t *seg = p ? hak_segment_lookup(p) : NULL;
  if (seg == NULL) return 0;
  if (seg->kind == HAK_PAGE_HUGE) return p == seg->huge_block;
  return page_block_of(hak_segment_page_of(seg, p), (void *)p) != NULL;
}

/* free of a pointer outside the first 4 MiB of every segment: NULL, a far
 * aligned large block, or not ours. */
void hak_free_unmapped(void *p, const char *fn) {
  if (p == NULL) return;
  hak_segment_t *seg = hak_segment_lookup(p);
  if (seg != NULL && seg->kind == HAK_PAGE_HUGE && p == seg->huge_block) {
    int saved = errno;
    hak_large_free(seg);
    errno = saved;
    return;
  }
  hak_invalid_pointer(fn, p);
}

void hak_free(void *p) { hak_free_inline(p, "free"); }

void hak_free_sized(void *p, size_t size) {
  (void)size;
  hak_free_inline(p, "free_sized");
}

void hak_free_aligned_sized(void *p, size_t alignment, size_t size) {
  (void)alignment;
  (void)size;
  hak_free_inline(p, "free_aligned_sized");
}
