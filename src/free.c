/* free.c — everything free() does off its fast path (see hak_free_inline in
 * internal.h): rejecting foreign pointers, aligned interior pointers, large
 * blocks, and blocks owned by another thread.
 *
 * Cross-thread free (free-list sharding): the block is pushed with a CAS on
 * its page's xthread_free list, which only the owner ever empties. With
 * HAK_XCACHE a thread with a heap batches these per page first (xcache.c)
 * and pushes a whole chain with one CAS, by the same protocol: a chain is a
 * block here.
 *
 * Notification. When the owner parks a page in its full queue it arms it
 * (state ARMED, see types.h): the first remote free to find it armed swaps
 * ARMED for PUSHING, reads the segment's owner, pushes the page on that
 * heap's xpages list and sets LISTED — or, finding no owner (the thread
 * exited and the segment is abandoned), sets ORPHAN — and only then pushes
 * its block. The owner takes its whole xpages list at once and handles only
 * the pages on it: O(notified pages).
 *
 * Why it is safe:
 *   - A pinned page (PUSHING, LISTED, ORPHAN) is never given back to its
 *     segment, so neither it nor its segment can be released while it is on
 *     a list or a remote thread is busy with it; the remote thread's own block,
 *     pushed last, keeps the page in use until then anyway.
 *   - The owner can change only at thread exit (abandon) and at adoption. The
 *     remote free sets PUSHING (seq_cst) before it reads the owner (seq_cst);
 *     the exiting thread clears the owner (seq_cst) before it looks at its
 *     pages' states (seq_cst) and waits for every PUSHING to end. In the
 *     single total order of seq_cst operations, either the remote read sees
 *     the cleared owner (ORPHAN), or the exiting thread sees PUSHING and waits,
 *     then finds the page on its list (segment.c: hak_segment_abandon_all).
 *     Adoption is the mirror image (segment_adopt). This holds under the C11
 *     model, not only on x86.
 *   - The list push is a release CAS and the owner takes the list with an
 *     acquire exchange: the page's xnext link is visible to the owner. A
 *     relaxed peek at the list head is only a hint; a page is never lost
 *     because the list persists until taken. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "prof.h"

/* One line "hakmem: FN: WHAT 0x..." then, by HAKMEM_INVALID_FREE, abort (the
 * default), go on, or stay silent; the call is refused in every case. */
static void bad_free(const char *fn, const char *what, const void *p) {
  int saved = errno; /* free preserves errno, even when it refuses a pointer */
  hak_stat_add(invalid_frees, 1);
  /* Before start-up nothing can be ours, and glibc has been seen freeing a
   * pointer that was never malloc'ed during its own initialisation. */
  if (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2) return;
  if (hak_options.invalid == HAK_INVALID_IGNORE) return;
  char line[128], *q = line;
  const char *parts[] = {"hakmem: ", fn, "(): ", what, " "};
  for (size_t i = 0; i < 5; i++) { size_t n = strlen(parts[i]); memcpy(q, parts[i], n); q += n; }
  q = hak_fmt_hex(q, (uintptr_t)p);
  *q++ = '\n';
  *q = 0;
  hak_write_stderr(line);
  if (hak_options.invalid == HAK_INVALID_ABORT) abort();
  errno = saved;
}

void hak_invalid_pointer(const char *fn, const void *p) { bad_free(fn, "invalid pointer", p); }
void hak_double_free(const char *fn, const void *p) { bad_free(fn, "double free", p); }
void hak_wrong_size(const char *fn, const void *p) { bad_free(fn, "wrong size", p); }

/* The remote thread that consumed ARMED tells the page's owner (see above). */
static void notify_owner(hak_segment_t *seg, hak_page_t *page) {
  hak_heap_t *owner = atomic_load(&seg->owner); /* seq_cst: after PUSHING */
  if (owner == NULL) {
    hak_page_set_xstate(page, HAK_XFREE_PUSHING, HAK_XFREE_ORPHAN);
    return;
  }
  hak_page_t *head = atomic_load_explicit(&owner->xpages, memory_order_relaxed);
  do {
    page->xnext = head;
  } while (!atomic_compare_exchange_weak_explicit(&owner->xpages, &head, page, memory_order_release,
                                                  memory_order_relaxed));
  hak_page_set_xstate(page, HAK_XFREE_PUSHING, HAK_XFREE_LISTED);
}

/* Push the chain first..last (linked by next; one block: first == last) on
 * the page's remote list with one CAS. This one handles every state. */
static hak_noinline void free_remote_slow(hak_segment_t *seg, hak_page_t *page, hak_block_t *first, hak_block_t *last,
                                          const char *fn) {
  uintptr_t old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  for (;;) {
    uintptr_t state = old & HAK_XFREE_STATE;
    if (state == HAK_XFREE_ARMED) {
      if (atomic_compare_exchange_weak(&page->xthread_free, &old, (old & ~HAK_XFREE_STATE) | HAK_XFREE_PUSHING)) {
        notify_owner(seg, page);
        old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
      }
      continue;
    }
    hak_block_t *head = (hak_block_t *)(old & ~HAK_XFREE_STATE);
    if (hak_unlikely(head == first)) { /* freed twice in a row: refused */
      hak_double_free(fn, first);
      if (first == last) return;
      first = hak_link_get(first); /* the rest of a chain still goes */
      continue;
    }
    hak_link_set(last, head);
    if (atomic_compare_exchange_weak_explicit(&page->xthread_free, &old, (uintptr_t)first | state,
                                              memory_order_release, memory_order_relaxed))
      return;
  }
}

/* The common case inline and without a stack frame: not armed, not a double
 * free, the CAS succeeds; anything else goes to free_remote_slow. */
static inline void free_remote(hak_segment_t *seg, hak_page_t *page, hak_block_t *first, hak_block_t *last,
                               const char *fn) {
#if HAK_SECURE
  if (hak_secure_is_free(page, first)) { /* already on a free list (secure: no chains) */
    hak_double_free(fn, first);
    return;
  }
#endif
  uintptr_t old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  uintptr_t state = old & HAK_XFREE_STATE;
  hak_block_t *head = (hak_block_t *)(old & ~HAK_XFREE_STATE);
  if (hak_likely(state != HAK_XFREE_ARMED && head != first)) {
    hak_link_set(last, head);
    if (atomic_compare_exchange_strong_explicit(&page->xthread_free, &old, (uintptr_t)first | state,
                                                memory_order_release, memory_order_relaxed))
      return;
  }
  free_remote_slow(seg, page, first, last, fn);
}

void hak_free_remote_chain(hak_segment_t *seg, hak_page_t *page, hak_block_t *first, hak_block_t *last) {
  free_remote(seg, page, first, last, "free");
}

/* The start of the block that p points into, or NULL if p is not a pointer
 * hakmem handed out from this page. */
static void *page_block_of(hak_page_t *page, void *p) {
  if (!page->in_use || (uint8_t *)p < page->start) return NULL;
  size_t off = (size_t)((uint8_t *)p - page->start);
  if (off >= hak_page_carved(page)) return NULL;
  /* off / block_size by the reciprocal (exact below 2^23, see types.h) */
  size_t idx = (size_t)(((unsigned __int128)off * page->block_divisor) >> 64);
  uint8_t *b = page->start + idx * page->block_size;
  if (b != (uint8_t *)p && !page->has_aligned) return NULL;
  return b;
}

/* Nothing here makes a system call that can fail on a valid pointer, and
 * os.c preserves errno in any case: free leaves errno alone. */
void hak_free_generic(hak_segment_t *seg, hak_page_t *page, void *p, const char *fn) {
  if (hak_unlikely(seg->cookie != ((uintptr_t)seg ^ hak_secret))) {
    hak_invalid_pointer(fn, p);
    return;
  }
  if (seg->kind == HAK_PAGE_HUGE) {
    hak_large_free_checked(seg, p, fn);
    return;
  }
  hak_block_t *block = p; /* a block start (the commonest case: another thread's block) */
  if (!hak_page_is_block_start(page, p)) {
    page = hak_page_of_block(page);
    block = page_block_of(page, p);
  }
  if (block == NULL) {
    hak_invalid_pointer(fn, p);
    return;
  }
  /* profiling: a large block's page with block_limit 0 holds a sampled block (prof.h) */
  if (hak_unlikely(hak_prof_on) && page->block_limit == 0 && seg->kind == HAK_PAGE_LARGE) hak_prof_free(block);
  hak_heap_t *heap = hak_heap_tls;
  hak_heap_t *owner = hak_segment_owner(seg);
  if (owner == NULL && seg->abandoned && !(heap == &hak_heap_empty && hak_heap_released)) {
    /* adopt it, so the blocks come back to pages someone owns and emptied
     * pages and segments can go back (a thread that only frees gets a heap).
     * Not by a thread whose heap was released at exit: a heap made now, in
     * its last TLS destructor round, would never be released; the block
     * waits on its page for the segment's next adopter. */
    if (heap == &hak_heap_empty) heap = hak_heap_init_thread();
    if (heap != NULL && hak_segment_reclaim_for_free(heap, seg)) owner = heap;
    if (heap == NULL) heap = &hak_heap_empty;
  }
  if (owner == heap) {
    HAK_OBSERVE_INC(heap->stats.obs_free_slow);
    HAK_OBSERVE_INC(heap->stats.obs_free[page->class_idx]);
    hak_page_free_local(heap, page, block, fn);
  } else {
#if HAK_OBSERVE
    if (heap != &hak_heap_empty) heap->stats.obs_free_remote++;
    else atomic_fetch_add_explicit(&hak_obs_free_remote_heapless, 1, memory_order_relaxed);
#endif
    if (HAK_XCACHE && heap != &hak_heap_empty) hak_xcache_put(heap, seg, page, block, fn); /* batched (xcache.c) */
    else free_remote(seg, page, block, block, fn);
  }
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
  hak_page_t *page = hak_page_of_block(hak_segment_page_of(seg, p));
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
  if (seg->kind == HAK_PAGE_HUGE) return hak_large_owns(seg, p); /* prof.h: aligned inside a sampled block */
  return page_block_of(hak_page_of_block(hak_segment_page_of(seg, p)), (void *)p) != NULL;
}

/* free of a pointer outside the first 4 MiB of every segment: NULL, a far
 * aligned large block, or not ours. */
void hak_free_unmapped(void *p, const char *fn) {
  if (p == NULL) return;
  hak_segment_t *seg = hak_segment_lookup(p);
  if (seg != NULL && seg->kind == HAK_PAGE_HUGE) hak_large_free_checked(seg, p, fn);
  else hak_invalid_pointer(fn, p);
}

void hak_free(void *p) { hak_free_inline(p, "free"); }

void hak_free_sized(void *p, size_t size) {
  (void)size;
#if HAK_SECURE
  if (!hak_secure_sized_ok(p, 0, size)) { hak_wrong_size("free_sized", p); return; }
#endif
  hak_free_inline(p, "free_sized");
}

void hak_free_aligned_sized(void *p, size_t alignment, size_t size) {
  (void)alignment;
  (void)size;
#if HAK_SECURE
  if (!hak_secure_sized_ok(p, alignment, size)) { hak_wrong_size("free_aligned_sized", p); return; }
#endif
  hak_free_inline(p, "free_aligned_sized");
}
