/* page.c — pages of one size class: carving blocks, collecting frees, and
 * moving pages between a heap's queues. Everything here runs on the owning
 * thread, out of line from the malloc/free fast paths.
 *
 * A heap keeps, per size class, a queue of pages that may have free blocks;
 * pages that ran out go to the heap's full queue, armed so that the first
 * remote free tells the owner (see free.c: the heap's xpages list). */
#include <errno.h>
#include <sched.h>

#include "internal.h"
#include "prof.h"

/* ---- size classes -------------------------------------------------------- */
size_t hak_class_block_size(size_t c) {
  if (c <= 8) return c * 16;
  if (c <= 20) return ((size_t)128 << ((c - 9) / 4)) / 4 * (4 + (c - 9) % 4 + 1);
  if (c >= 93) return ((size_t)64 << 10 << ((c - 93) / 4)) / 4 * (4 + (c - 93) % 4 + 1);
  size_t p = (size_t)1024 << ((c - 21) / 12), j = (c - 21) % 12;
  return j < 4 ? p + p / 64 * (j + 1) : p + p / 8 * (j - 3);
}

/* HAK_DEBUG >= 2: every block on the page's free list lies on a block
 * boundary of the carved area, and the counts add up. */
bool hak_page_is_valid(const hak_page_t *page) {
  uint32_t in_use = hak_page_in_use(page);
  if (!page->in_use || page->capacity > page->reserved || in_use > page->capacity) return false;
  if (page->mark != 0 && in_use + page->bias <= page->mark) return false;
  if ((page->purged & ~page->detached) != 0) return false;
  uint32_t detached = hak_release_detached_blocks(page);
  size_t listed = 0;
  for (const hak_block_t *b = page->free; b != NULL; b = hak_link_get(b)) {
    const uint8_t *p = (const uint8_t *)b;
    if (p < page->start || (size_t)(p - page->start) % page->block_size != 0 ||
        (size_t)(p - page->start) / page->block_size >= page->capacity || ++listed > page->capacity)
      return false;
  }
  return listed + in_use + detached == page->capacity;
}

/* ---- queues ---------------------------------------------------------------- */
static void page_set_bias(hak_page_t *page, bool on) {
  if (page->bias == on) return;
  page->bias = on;
  if (on) page->used++;
  else page->used--; /* may reach 0: the page stays queued and is reused first */
  /* below its thin mark: forget the mark (never miss the page emptying) */
  if (page->mark != 0 && (int32_t)page->used <= 0) hak_page_set_mark(page, 0);
}

/* Keep the bias invariant of a class queue: only a page alone has it (in
 * every profile: an empty page kept is purged by the release policy, not
 * given back at every burst). */
static void queue_fix_bias(hak_heap_t *heap, size_t qidx) {
  if (qidx >= HAK_CLASS_COUNT) return;
  hak_page_queue_t *q = &heap->queues[qidx];
  if (q->first == NULL) return;
  if (q->first == q->last) {
    page_set_bias(q->first, true);
  } else { /* after a push, the page that was alone is at one end */
    page_set_bias(q->first, false);
    page_set_bias(q->last, false);
  }
}

void hak_queue_remove(hak_heap_t *heap, size_t qidx, hak_page_t *page) {
  hak_page_queue_t *q = &heap->queues[qidx];
  if (page->prev) page->prev->next = page->next; else q->first = page->next;
  if (page->next) page->next->prev = page->prev; else q->last = page->prev;
  page->next = page->prev = NULL;
  page_set_bias(page, false);
  queue_fix_bias(heap, qidx);
  hak_heap_queue_set_direct(heap, qidx);
}

void hak_queue_push_back(hak_heap_t *heap, size_t qidx, hak_page_t *page) {
  hak_page_queue_t *q = &heap->queues[qidx];
  page->next = NULL;
  page->prev = q->last;
  if (q->last) q->last->next = page; else q->first = page;
  q->last = page;
  queue_fix_bias(heap, qidx);
  hak_heap_queue_set_direct(heap, qidx);
}

static void queue_push_front(hak_heap_t *heap, size_t qidx, hak_page_t *page) {
  hak_page_queue_t *q = &heap->queues[qidx];
  page->prev = NULL;
  page->next = q->first;
  if (q->first) q->first->prev = page; else q->last = page;
  q->first = page;
  queue_fix_bias(heap, qidx);
  hak_heap_queue_set_direct(heap, qidx);
}

/* ---- a page's free lists --------------------------------------------------- */
void hak_page_init(hak_page_t *page, size_t class_idx, uint8_t *start, size_t area) {
  size_t bsize = hak_class_block_size(class_idx);
  page->free = NULL;
  page->used = 0;
  page->bias = 0;
  page->in_full = 0;
  page->has_aligned = 0;
  page->free_is_zero = 0;
  page->class_idx = (uint8_t)class_idx;
  page->start = start;
  page->block_size = bsize;
  page->block_divisor = hak_block_divisor(bsize);
  page->capacity = 0;
  page->block_limit = 0;
  page->mark = 0;
  page->detached = page->purged = 0;
  page->reserved = (uint16_t)(area / bsize);
  page->next = page->prev = NULL;
  hak_assert(atomic_load(&page->xthread_free) == 0); /* a pinned page is never freed */
}

/* Carve the next few never-used blocks into the (empty) free list. */
static void page_extend(hak_heap_t *heap, hak_page_t *page) {
  hak_assert(page->free == NULL && page->capacity < page->reserved);
  size_t bsize = page->block_size;
  size_t n = HAK_EXTEND_BYTES / bsize;
  if (n == 0) n = 1;
  if (n > (size_t)(page->reserved - page->capacity)) n = (size_t)(page->reserved - page->capacity);
  uint8_t *first = page->start + (size_t)page->capacity * bsize;
#if HAK_SECURE
  page->free = hak_secure_carve(first, n, bsize); /* in a random order */
#else
  uint8_t *b = first;
  for (size_t i = 1; i < n; i++, b += bsize) ((hak_block_t *)b)->next = (hak_block_t *)(b + bsize);
  ((hak_block_t *)b)->next = NULL;
  page->free = (hak_block_t *)first;
#endif
  page->free_is_zero = page->is_zero;
  page->capacity += (uint16_t)n;
  page->block_limit = page->capacity * (page->block_divisor * bsize); /* mod 2^64: see hak_page_is_block_start */
  heap->stats.blocks_carved += n;
  hak_release_page_full(page);
}

/* Move blocks freed by other threads to `free`; returns how many.
 * The walk is bounded: the list cannot hold more blocks than are in use, and
 * none of them can be the head of `free` (already free). Either means a block
 * was freed twice by other threads; the list is corrupt (perhaps a cycle), so
 * the program is stopped rather than left spinning or aliasing blocks. */
size_t hak_page_collect(hak_heap_t *heap, hak_page_t *page) {
  uintptr_t old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  if ((old & ~HAK_XFREE_STATE) == 0) return 0;
  while (!atomic_compare_exchange_weak_explicit(&page->xthread_free, &old, old & HAK_XFREE_STATE,
                                                memory_order_acquire, memory_order_relaxed)) {
  }
  hak_block_t *list = (hak_block_t *)(old & ~HAK_XFREE_STATE);
  size_t limit = hak_page_in_use(page), n = 1;
  hak_block_t *tail = list;
#if HAK_SECURE
  n = hak_secure_collect(page, list, limit, &tail); /* checks every link and block */
#else
  for (;;) {
    if (hak_unlikely(n > limit || tail == page->free))
      hak_fatal_at("double free: a block was freed twice by other threads, in the page at", page->start);
    if (tail->next == NULL) break;
    tail = tail->next;
    n++;
  }
#endif
  hak_link_set(tail, page->free);
  page->free = list;
  page->free_is_zero = 0;
  page->used -= (uint32_t)n;
  /* below the thin mark (a full page's mark is its callers' business: they
   * take it out of the full queue when it has free blocks) */
  if (page->mark != 0 && !page->in_full && (int32_t)page->used <= 0) hak_release_thinned(heap, page, false);
  return n;
}

/* The state bits of xthread_free go from `from` to `to`; blocks pushed
 * meanwhile by other threads are kept. */
void hak_page_set_xstate(hak_page_t *page, uintptr_t from, uintptr_t to) {
  uintptr_t old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  do {
    hak_assert((old & HAK_XFREE_STATE) == from);
    (void)from;
  } while (!atomic_compare_exchange_weak(&page->xthread_free, &old, (old & ~HAK_XFREE_STATE) | to));
}

/* Wait until no remote thread is in the middle of notifying this page (its
 * state is not PUSHING: a few instructions away); returns xthread_free. */
uintptr_t hak_page_wait_pushed(hak_page_t *page) {
  uintptr_t v;
  while (((v = atomic_load(&page->xthread_free)) & HAK_XFREE_STATE) == HAK_XFREE_PUSHING) sched_yield();
  return v;
}

static bool page_has_free(const hak_page_t *page) { return page->free != NULL; }

/* The page ran out: park it in the full queue, armed, unless remote frees
 * raced in (then it is usable again and stays). Returns true if parked. */
static bool page_to_full(hak_heap_t *heap, hak_page_t *page) {
  uintptr_t expect = 0;
  if (!atomic_compare_exchange_strong(&page->xthread_free, &expect, HAK_XFREE_ARMED)) {
    /* blocks arrived: collect them instead; else it is still armed from an
     * earlier stay in the full queue, or a notification is on its way to
     * our xpages list (PUSHING/LISTED), which will take the page in hand */
    if ((expect & ~HAK_XFREE_STATE) != 0) return false;
    hak_assert(expect != HAK_XFREE_ORPHAN);
  }
  hak_queue_remove(heap, page->class_idx, page);
  page->in_full = 1;
  hak_queue_push_back(heap, HAK_CLASS_FULL, page);
  /* `used` counts from one below what is in use: the first free leaves the
   * fast path (used reaches 0) and takes the page out of the full queue, so
   * the fast path needs no in_full test */
  hak_page_set_mark(page, hak_page_in_use(page) + page->bias - 1);
  return true;
}

/* A full page got a block back: it goes to the end of its class queue. */
void hak_page_unfull(hak_heap_t *heap, hak_page_t *page) {
  uintptr_t expect = HAK_XFREE_ARMED;
  atomic_compare_exchange_strong(&page->xthread_free, &expect, 0); /* disarm if still armed */
  hak_queue_remove(heap, HAK_CLASS_FULL, page);
  page->in_full = 0;
  hak_queue_push_back(heap, page->class_idx, page);
  hak_page_set_mark(page, 0);  /* drop the full mark */
  hak_release_page_full(page); /* and arm the thin mark */
}

/* Every block of the page is free (used == 0): give it back to its segment,
 * unless it turns out to be alone in its class queue (then it has the bias and
 * is kept, so a block bouncing between malloc and free does not map and unmap
 * pages), or it is pinned by a notification (then it stays queued, empty,
 * until the notification is processed, which retires it). */
void hak_page_retire(hak_heap_t *heap, hak_page_t *page) {
  hak_assert(page->in_use);
  if (page->in_full) hak_page_unfull(heap, page); /* it has a free block now */
  if (page->mark != 0) {
    /* not empty: the page thinned out to its mark (release.c) */
    if ((int32_t)page->used <= 0) hak_release_thinned(heap, page, true);
    if (page->used != 0) return;
  }
  if (page->used != 0) return; /* alone: kept (bias) */
  hak_assert_expensive(hak_page_is_valid(page));
  if (hak_page_is_pinned(page)) return;
  hak_queue_remove(heap, page->class_idx, page);
  hak_segment_page_free(heap, page);
}

static bool page_is_empty(const hak_page_t *page) { return hak_page_in_use(page) == 0 && page->bias == 0; }

/* A page of a segment this heap just adopted (its state is not PUSHING or
 * ORPHAN any more; LISTED means it is on this heap's xpages list): rebuild
 * its place in the heap. */
void hak_page_reclaim(hak_heap_t *heap, hak_page_t *page) {
  page->next = page->prev = NULL;
  page_set_bias(page, false); /* from the queue of the heap that abandoned it */
  page->in_full = 0;
  hak_page_collect(heap, page);
  if (page_is_empty(page) && !hak_page_is_pinned(page)) {
    hak_segment_page_free(heap, page);
    return;
  }
  hak_queue_push_back(heap, page->class_idx, page);
  if (!page_has_free(page) && page->capacity == page->reserved && page->detached == 0) {
    if (!page_to_full(heap, page)) hak_page_collect(heap, page);
  } else {
    uintptr_t expect = HAK_XFREE_ARMED; /* armed by the old owner: not full here */
    atomic_compare_exchange_strong(&page->xthread_free, &expect, 0);
  }
}

/* A remote free told us about this page (it was armed in the full queue):
 * unpin it, then take its blocks back. */
static void page_xpage_arrived(hak_heap_t *heap, hak_page_t *page) {
  hak_page_wait_pushed(page); /* it is on our list: the pusher is nearly done */
  hak_page_set_xstate(page, HAK_XFREE_LISTED, 0);
  hak_assert(page->in_use);
  hak_page_collect(heap, page);
  if (page_is_empty(page)) {
    hak_page_retire(heap, page);
  } else if (!page->in_full) {
    /* a local free took it out of the full queue meanwhile */
  } else if (page_has_free(page)) {
    hak_page_unfull(heap, page);
  } else {
    uintptr_t expect = 0; /* re-arm; if blocks raced in, take them */
    if (!atomic_compare_exchange_strong(&page->xthread_free, &expect, HAK_XFREE_ARMED) &&
        (expect & ~HAK_XFREE_STATE) != 0) {
      hak_page_collect(heap, page);
      if (page_is_empty(page)) hak_page_retire(heap, page);
      else hak_page_unfull(heap, page);
    }
  }
}

/* Take the heap's whole list of notified pages and handle each: O(notified
 * pages). The next link is read before a page is handled: once unpinned, a
 * page may be re-armed and pushed again, or given back to its segment. */
void hak_page_process_xpages(hak_heap_t *heap) {
  hak_page_t *list = atomic_exchange_explicit(&heap->xpages, NULL, memory_order_acquire);
  while (list != NULL) {
    hak_page_t *page = list;
    list = page->xnext;
    page_xpage_arrived(heap, page);
  }
}

/* In a child after fork, the only thread is the one that forked: a page
 * another thread was notifying (PUSHING) stays so forever, and waiting for
 * it would hang. Finish those notifications for the pages of this thread's
 * heap: the page goes on the heap's list, once. */
void hak_page_atfork_child(hak_heap_t *heap) {
  for (hak_segment_t *seg = heap->segments; seg != NULL; seg = seg->next) {
    for (uint32_t i = 0; i < seg->page_count; i++) {
      hak_page_t *page = &seg->pages[i];
      if (!page->in_use || (atomic_load(&page->xthread_free) & HAK_XFREE_STATE) != HAK_XFREE_PUSHING) continue;
      bool listed = false;
      for (hak_page_t *p = atomic_load(&heap->xpages); p != NULL && !listed; p = p->xnext) listed = p == page;
      if (!listed) {
        page->xnext = atomic_load(&heap->xpages);
        atomic_store(&heap->xpages, page);
      }
      hak_page_set_xstate(page, HAK_XFREE_PUSHING, HAK_XFREE_LISTED);
    }
  }
}

/* ---- the allocation slow path ----------------------------------------------- */
/* A page of class c with a free block, at the front of its queue. */
static hak_page_t *heap_find_page(hak_heap_t *heap, size_t c) {
  hak_page_t *page = heap->queues[c].first;
  while (page != NULL) {
    hak_page_t *next = page->next;
    if (page->free == NULL) hak_page_collect(heap, page);
    if (page->free == NULL && page->detached != 0) hak_release_reattach(heap, page);
    if (page->free == NULL && page->capacity < page->reserved) page_extend(heap, page);
    if (page->free != NULL) {
      hak_assert_expensive(hak_page_is_valid(page));
      if (page != heap->queues[c].first) {
        hak_queue_remove(heap, c, page);
        queue_push_front(heap, c, page);
      }
      return page;
    }
    if (!page_to_full(heap, page)) continue; /* remote frees arrived: look again */
    page = next;
  }
  /* no page with room: a fresh one from a segment */
  size_t bsize = hak_class_block_size(c);
  page = hak_segment_page_alloc(heap, hak_class_kind(bsize), bsize);
  if (page == NULL) return NULL;
  hak_segment_t *seg = hak_ptr_segment(page);
  uint8_t *start = (uint8_t *)seg + ((size_t)page->page_index << seg->page_shift);
  size_t area = (size_t)page->slices << seg->page_shift;
  if (page->page_index == 0) {
    start += HAK_SEGMENT_HEADER_SIZE;
    area -= HAK_SEGMENT_HEADER_SIZE;
  }
#if HAK_SECURE
  area -= hak_secure_guard_cut(seg, page); /* the segment's last page ends at its guard page */
#endif
  hak_page_init(page, c, start, area);
  heap->stats.pages_fresh++;
  queue_push_front(heap, c, page);
  page_extend(heap, page);
  return page;
}

void *hak_malloc_generic(hak_heap_t *heap, size_t size, bool zero) {
  if (hak_unlikely(heap == &hak_heap_empty)) {
    heap = hak_heap_init_thread();
    if (heap == NULL) { errno = ENOMEM; return NULL; }
  }
  if (size > HAK_LARGE_MAX) return hak_unlikely(hak_prof_on) ? hak_prof_large_alloc(size, 0, zero) : hak_large_alloc(size, 0, zero);
  if ((++heap->stats.malloc_generic & 255) == 0) hak_stats_merge_heap(&heap->stats);
#if HAK_XCACHE
  /* our batched remote frees go out now and then (not at every slow path:
   * a thread that allocates and frees remotely would send chains of one) */
  if (heap->xcached != 0 && (heap->stats.malloc_generic & 63) == 0) hak_xcache_flush(heap);
#endif
  if (atomic_load_explicit(&heap->xpages, memory_order_relaxed) != NULL) hak_page_process_xpages(heap);
  hak_release_tick(heap);
  size_t c = hak_size_class(size);
  HAK_OBSERVE_INC(heap->stats.obs_malloc[c]);
  hak_page_t *page = heap_find_page(heap, c);
  if (hak_unlikely(page == NULL)) { errno = ENOMEM; return NULL; }
  if (hak_unlikely(hak_prof_on)) return hak_prof_malloc(heap, page, size, zero); /* sampling */
  return hak_page_pop(page, page->free, size, zero);
}
