/* segment.c — 4 MiB aligned segments and the pages inside them.
 *
 * A segment belongs to one heap (its owner) and is cut into pages of one size:
 * 64 small pages of 64 KiB, 8 medium pages of 512 KiB, or 64 slices of 64 KiB
 * from which blocks of 64..512 KiB take spans (one block per span, any size
 * class: memory one class freed serves another).
 * The segment map (one byte per 4 MiB of address space, in BSS) says which
 * addresses are hakmem segments, so free() can reject foreign pointers without
 * touching them.
 *
 * Shared state, each under its own lock and touched only on rare paths:
 *   - the abandoned pool: segments whose thread exited with blocks still live;
 *     other heaps adopt them when they need a page, or when they free into one;
 *   - the segment cache: a few empty segments kept for reuse (thread churn).
 *
 * Remote frees into a full page notify the owner heap directly (free.c); the
 * owner changes only here, at thread exit and at adoption, and both wait out
 * notifications in flight so that none goes to the wrong heap. */
#include <errno.h>

#include "internal.h"
#include "prof.h"

_Atomic(uint8_t) hak_segment_map[HAK_SEGMAP_SIZE];

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static hak_segment_t *pool_abandoned; /* doubly linked by next/prev */
static hak_segment_t *pool_cache;     /* singly linked by next */
static size_t pool_cache_count;

void hak_segment_map_mark(const void *region, uint8_t value) {
  uintptr_t i = (uintptr_t)region >> HAK_SEGMENT_SHIFT;
  if (i >= HAK_SEGMAP_SIZE) hak_fatal("segment mapped above the 47-bit address space");
  atomic_store(&hak_segment_map[i], value);
}

void hak_segment_map_set_live(const hak_segment_t *seg) {
  hak_segment_map_mark(seg, (uint8_t)(HAK_SEGMAP_LIVE | seg->page_shift));
}

/* The segment of any pointer hakmem may have handed out, or NULL. */
hak_segment_t *hak_segment_lookup(const void *p) {
  uintptr_t i = (uintptr_t)p >> HAK_SEGMENT_SHIFT;
  if (i >= HAK_SEGMAP_SIZE) return NULL;
  uint8_t k = atomic_load_explicit(&hak_segment_map[i], memory_order_relaxed);
  if (k == 0) return NULL;
  if (k & HAK_SEGMAP_LIVE) k = 0; /* else k segments lower (a far-aligned block) */
  hak_segment_t *seg = (hak_segment_t *)((uintptr_t)hak_ptr_segment(p) - (uintptr_t)k * HAK_SEGMENT_SIZE);
  if (seg->cookie != ((uintptr_t)seg ^ hak_secret)) return NULL;
  return seg;
}

/* HAK_DEBUG >= 2: the page bookkeeping of a segment is consistent. */
bool hak_segment_is_valid(const hak_segment_t *seg) {
  if (seg->cookie != ((uintptr_t)seg ^ hak_secret) || seg->page_count == 0 || seg->page_count > HAK_SEGMENT_PAGES_MAX)
    return false;
  uint32_t in_use = 0, dirty = 0;
  for (uint32_t i = 0; i < seg->page_count; i++) {
    const hak_page_t *page = &seg->pages[i];
    bool free_bit = (seg->free_mask >> i) & 1;
    if (page->in_use == free_bit || page->page_index != i) return false;
    in_use += page->in_use;
    dirty += page->is_dirty;
    if (page->in_use && page->is_dirty) return false;
  }
  return in_use == seg->used_pages && dirty == seg->dirty_pages;
}

/* ---- mapping --------------------------------------------------------------- */
static void segment_layout(hak_segment_t *seg, hak_page_kind_t kind) {
  seg->kind = (uint8_t)kind;
  seg->page_shift = kind == HAK_PAGE_SMALL ? HAK_SMALL_PAGE_SHIFT
                  : kind == HAK_PAGE_MEDIUM ? HAK_MEDIUM_PAGE_SHIFT
                  : kind == HAK_PAGE_LARGE ? HAK_LARGE_PAGE_SHIFT : HAK_SEGMENT_SHIFT;
  seg->page_count = kind == HAK_PAGE_HUGE ? 1 : (uint32_t)(HAK_SEGMENT_SIZE >> seg->page_shift);
  seg->used_pages = 0;
  seg->dirty_pages = 0;
  seg->free_mask = seg->page_count == 64 ? ~(uint64_t)0 : (((uint64_t)1 << seg->page_count) - 1);
  for (uint32_t i = 0; i < seg->page_count; i++) {
    hak_page_t *page = &seg->pages[i];
    memset(page, 0, sizeof(*page));
    page->page_index = (uint8_t)i;
    page->slices = 1;
    page->is_zero = seg->is_zero;
  }
}

hak_segment_t *hak_segment_map_alloc(size_t size, hak_page_kind_t kind, size_t alignment, size_t align_offset) {
  if (alignment < HAK_SEGMENT_SIZE) alignment = HAK_SEGMENT_SIZE;
  hak_segment_t *seg = align_offset ? hak_os_alloc_aligned_at(size, alignment, align_offset)
                                    : hak_os_alloc_aligned(size, alignment);
  if (seg == NULL) return NULL;
  if (HAK_POLICY(no_thp)) hak_os_no_thp(seg, size);
  /* fresh anonymous memory is zero: only non-zero fields are written */
  atomic_store_explicit(&seg->owner, NULL, memory_order_relaxed);
  seg->size = size;
  seg->is_zero = 1;
  seg->cookie = (uintptr_t)seg ^ hak_secret;
#if HAK_SECURE
  /* guard pages (secure.h): between the header and
   * page 0, and at the end, so a linear overflow off the last block faults
   * instead of writing the next segment's header */
  if (kind != HAK_PAGE_HUGE && size == HAK_SEGMENT_SIZE) {
    hak_os_guard((uint8_t *)seg + HAK_SEGMENT_HEADER_SIZE - HAK_SECURE_GUARD, HAK_SECURE_GUARD);
    hak_os_guard((uint8_t *)seg + HAK_SEGMENT_SIZE - HAK_SECURE_GUARD, HAK_SECURE_GUARD);
  }
#endif
  segment_layout(seg, kind);
  hak_segment_map_set_live(seg);
  hak_stat_add_peak(&hak_stats.segments, &hak_stats.segments_peak, 1);
  return seg;
}

void hak_segment_unmap(hak_segment_t *seg) {
  hak_segment_map_mark(seg, 0);
  if (seg->kind == HAK_PAGE_HUGE && seg->huge_block >= (uint8_t *)seg + HAK_SEGMENT_SIZE) hak_segment_map_mark(seg->huge_block, 0);
  hak_stat_sub(segments, 1);
  hak_os_free(seg, seg->size);
}

/* ---- a heap's segment lists -------------------------------------------------- */
static void avail_add(hak_heap_t *heap, hak_segment_t *seg) {
  if (seg->in_avail) return;
  hak_segment_t **head = &heap->segments_avail[seg->kind];
  seg->avail_prev = NULL;
  seg->avail_next = *head;
  if (*head) (*head)->avail_prev = seg;
  *head = seg;
  seg->in_avail = 1;
}

static void avail_remove(hak_heap_t *heap, hak_segment_t *seg) {
  if (!seg->in_avail) return;
  if (seg->avail_prev) seg->avail_prev->avail_next = seg->avail_next;
  else heap->segments_avail[seg->kind] = seg->avail_next;
  if (seg->avail_next) seg->avail_next->avail_prev = seg->avail_prev;
  seg->avail_next = seg->avail_prev = NULL;
  seg->in_avail = 0;
}

/* heap->dirty_pages changes: the purge thread's hint follows (lock held). */
static void heap_dirty_add(hak_heap_t *heap, int32_t n) {
  heap->dirty_pages += (uint32_t)n;
  atomic_fetch_add_explicit(&heap->release_work, (uint32_t)n, memory_order_relaxed);
}

/* The heap's segment list and dirty counts are read by the purge thread:
 * changed under the heap's release lock. */
static void heap_add_segment(hak_heap_t *heap, hak_segment_t *seg) {
  hak_release_lock(heap);
  seg->prev = NULL;
  seg->next = heap->segments;
  if (heap->segments) heap->segments->prev = seg;
  heap->segments = seg;
  seg->in_avail = 0;
  if (seg->free_mask) avail_add(heap, seg);
  heap_dirty_add(heap, (int32_t)seg->dirty_pages);
  hak_release_unlock(heap);
}

static void heap_remove_segment(hak_heap_t *heap, hak_segment_t *seg) {
  hak_release_lock(heap);
  avail_remove(heap, seg);
  if (seg->prev) seg->prev->next = seg->next; else heap->segments = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
  seg->next = seg->prev = NULL;
  heap_dirty_add(heap, -(int32_t)seg->dirty_pages);
  hak_release_forget_segment(heap, seg);
  hak_release_unlock(heap);
}

static uint8_t *page_area(hak_segment_t *seg, hak_page_t *page, size_t *size) {
  uint8_t *start = (uint8_t *)seg + ((size_t)page->page_index << seg->page_shift);
  size_t n = (size_t)page->slices << seg->page_shift;
  if (page->page_index == 0) { start += HAK_SEGMENT_HEADER_SIZE; n -= HAK_SEGMENT_HEADER_SIZE; }
  *size = n;
  return start;
}

/* An empty segment leaves its heap: into the cache, or back to the OS. */
static void segment_release(hak_heap_t *heap, hak_segment_t *seg) {
  hak_assert(seg->used_pages == 0);
  hak_assert_expensive(hak_segment_is_valid(seg));
  if (heap) heap_remove_segment(heap, seg);
  atomic_store(&seg->owner, NULL);
  if (seg->size == HAK_SEGMENT_SIZE && HAK_POLICY(segment_cache) > 0) {
    if (HAK_POLICY(purge_delay_ms) == 0 && seg->dirty_pages > 0) {
      hak_os_purge((uint8_t *)seg + HAK_SEGMENT_HEADER_SIZE, HAK_SEGMENT_SIZE - HAK_SEGMENT_HEADER_SIZE);
      hak_stat_add(purged_segment_bytes, HAK_SEGMENT_SIZE - HAK_SEGMENT_HEADER_SIZE);
      seg->is_zero = 1;
    } else {
      seg->is_zero = seg->dirty_pages == 0 && seg->is_zero;
    }
    uint64_t now = hak_clock_ms();
    seg->cached_since_ms = now;
    hak_lock(&pool_lock);
    if (pool_cache_count < HAK_POLICY(segment_cache)) {
      seg->next = pool_cache;
      pool_cache = seg;
      pool_cache_count++;
      seg = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    if (seg == NULL) {
      hak_release_schedule(NULL, now); /* the cache decays */
      return;
    }
  }
  hak_segment_unmap(seg);
}

static hak_segment_t *segment_from_cache(void) {
  if (pool_cache == NULL) return NULL; /* racy peek: fine, rechecked under the lock */
  hak_lock(&pool_lock);
  hak_segment_t *seg = pool_cache;
  if (seg) { pool_cache = seg->next; pool_cache_count--; }
  pthread_mutex_unlock(&pool_lock);
  return seg;
}

/* ---- adopting abandoned segments ---------------------------------------------- */
static void pool_remove_abandoned(hak_segment_t *seg) {
  if (seg->prev) seg->prev->next = seg->next; else pool_abandoned = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
  seg->next = seg->prev = NULL;
  seg->abandoned = 0;
}

/* Take an abandoned segment in hand. Setting the owner first (seq_cst), then
 * reading each page's state (seq_cst), pairs with free.c's notify_owner: a
 * notification that read no owner has left its page ORPHAN, one still
 * PUSHING is waited out, and any later one comes to this heap. */
static void segment_adopt(hak_heap_t *heap, hak_segment_t *seg) {
  atomic_store(&seg->owner, heap);
  hak_stat_add(segments_reclaimed, 1);
  heap_add_segment(heap, seg);
  seg->used_pages++; /* hold the segment while its pages are sorted out */
  for (uint32_t i = 0; i < seg->page_count; i++) {
    hak_page_t *page = &seg->pages[i];
    if (!page->in_use || page->span_back) continue;
    uintptr_t v = hak_page_wait_pushed(page);
    if ((v & HAK_XFREE_STATE) == HAK_XFREE_ORPHAN) hak_page_set_xstate(page, HAK_XFREE_ORPHAN, 0);
    hak_page_reclaim(heap, page);
  }
  if (--seg->used_pages == 0) segment_release(heap, seg);
  else hak_assert_expensive(hak_segment_is_valid(seg));
}

/* Take the first segment of the abandoned pool, or NULL. */
static hak_segment_t *pool_take_abandoned(void) {
  if (pool_abandoned == NULL) return NULL; /* racy peek: rechecked under the lock */
  hak_lock(&pool_lock);
  hak_segment_t *seg = pool_abandoned;
  if (seg) pool_remove_abandoned(seg);
  pthread_mutex_unlock(&pool_lock);
  return seg;
}

/* Adopt up to a few abandoned segments; true once one has a free page of kind. */
static bool segment_reclaim_some(hak_heap_t *heap, hak_page_kind_t kind) {
  for (int n = 0; n < 8; n++) {
    hak_segment_t *seg = pool_take_abandoned();
    if (seg == NULL) break;
    segment_adopt(heap, seg);
    if (heap->segments_avail[kind] != NULL) return true;
  }
  return false;
}

/* A thread frees into an abandoned segment: it adopts it (then the free is local). */
bool hak_segment_reclaim_for_free(hak_heap_t *heap, hak_segment_t *seg) {
  if (pthread_mutex_trylock(&pool_lock) != 0) return false;
  bool ok = seg->abandoned && hak_segment_owner(seg) == NULL;
  if (ok) pool_remove_abandoned(seg);
  pthread_mutex_unlock(&pool_lock);
  if (ok) segment_adopt(heap, seg);
  return ok && hak_segment_owner(seg) == heap;
}

/* ---- pages ------------------------------------------------------------------ */
static hak_segment_t *segment_new(hak_heap_t *heap, hak_page_kind_t kind) {
  hak_segment_t *seg = segment_from_cache();
  if (seg != NULL) {
    segment_layout(seg, kind);
    hak_segment_map_set_live(seg); /* the page shift may have changed */
  } else {
    hak_release_cache_missed(HAK_CACHE_SEGMENTS);
    seg = hak_segment_map_alloc(HAK_SEGMENT_SIZE, kind, HAK_SEGMENT_SIZE, 0);
    if (seg == NULL && hak_release_emergency()) seg = hak_segment_map_alloc(HAK_SEGMENT_SIZE, kind, HAK_SEGMENT_SIZE, 0);
    if (seg == NULL) return NULL;
  }
  atomic_store(&seg->owner, heap);
  heap_add_segment(heap, seg);
  return seg;
}

/* ---- spans of large segments ---------------------------------------------------- */
/* Slices a block of bsize needs when its span starts at slice i (slice 0
 * holds the segment header). */
static unsigned span_need(size_t bsize, unsigned i) {
  size_t bytes = bsize + (i == 0 ? HAK_SEGMENT_HEADER_SIZE : 0);
  unsigned k = (unsigned)((bytes + ((size_t)1 << HAK_LARGE_PAGE_SHIFT) - 1) >> HAK_LARGE_PAGE_SHIFT);
#if HAK_SECURE
  /* a span reaching the last slice ends at the guard page */
  if (i + k == HAK_SEGMENT_PAGES_MAX && ((size_t)k << HAK_LARGE_PAGE_SHIFT) - bytes < HAK_SECURE_GUARD) k++;
#endif
  return k;
}

/* The first run of free slices of seg that holds a block of bsize: its
 * first slice, and the slices it takes in *k; -1 if none. */
static int span_find(const hak_segment_t *seg, size_t bsize, unsigned *k) {
  uint64_t free = seg->free_mask;
  unsigned i = 0;
  while (free >> i) {
    i += (unsigned)__builtin_ctzll(free >> i); /* first free slice at or after i */
    uint64_t rest = ~(free >> i);
    unsigned run = rest == 0 ? 64 - i : (unsigned)__builtin_ctzll(rest);
    if (run > 64 - i) run = 64 - i;
    unsigned need = span_need(bsize, i);
    if (run >= need) { *k = need; return (int)i; }
    i += run;
    if (i >= 64) break;
  }
  return -1;
}

static hak_segment_t *span_segment(hak_heap_t *heap, size_t bsize, int *first, unsigned *k) {
  for (hak_segment_t *seg = heap->segments_avail[HAK_PAGE_LARGE]; seg != NULL; seg = seg->avail_next)
    if ((*first = span_find(seg, bsize, k)) >= 0) return seg;
  return NULL;
}

/* A page from one of the heap's segments of this kind (a fresh or adopted
 * segment if none has room). For large blocks the page is a span of slices
 * big enough for one block of bsize; its other slices are interior
 * descriptors (in use, span_back set, accepting no pointer). */
hak_page_t *hak_segment_page_alloc(hak_heap_t *heap, hak_page_kind_t kind, size_t bsize) {
  hak_segment_t *seg;
  int first = -1;
  unsigned k = 1;
  if (kind == HAK_PAGE_LARGE) {
    seg = span_segment(heap, bsize, &first, &k);
    if (seg == NULL && pool_abandoned != NULL && segment_reclaim_some(heap, kind))
      seg = span_segment(heap, bsize, &first, &k);
    if (seg == NULL) {
      seg = segment_new(heap, kind);
      if (seg == NULL) return NULL;
      first = span_find(seg, bsize, &k);
      hak_assert(first >= 0);
    }
  } else {
    seg = heap->segments_avail[kind];
    if (seg == NULL) {
      if (pool_abandoned != NULL && segment_reclaim_some(heap, kind)) seg = heap->segments_avail[kind];
      if (seg == NULL) seg = segment_new(heap, kind);
      if (seg == NULL) return NULL;
    }
    hak_assert(seg->free_mask != 0);
    first = __builtin_ctzll(seg->free_mask);
  }
  hak_assert(hak_segment_owner(seg) == heap);
  hak_release_lock(heap);
  bool zero = true; /* the page's memory is known zero if every slice is */
  for (unsigned j = 0; j < k; j++) {
    hak_page_t *slice = &seg->pages[(unsigned)first + j];
    hak_assert(!slice->in_use);
    seg->free_mask &= ~((uint64_t)1 << ((unsigned)first + j));
    seg->used_pages++;
    if (slice->is_dirty) {
      slice->is_dirty = 0;
      slice->is_zero = 0;
      seg->dirty_pages--;
      heap_dirty_add(heap, -1);
    }
    zero = zero && slice->is_zero;
    slice->is_zero = 0; /* in use: it will be written */
    slice->in_use = 1;
    slice->span_back = (uint8_t)j;
    slice->slices = j == 0 ? (uint8_t)k : 0;
    slice->block_limit = 0;
  }
  if (seg->free_mask == 0) avail_remove(heap, seg);
  hak_page_t *page = &seg->pages[first];
  page->is_zero = zero;
  hak_release_unlock(heap);
  return page;
}

static void page_mark_purged(hak_heap_t *heap, hak_segment_t *seg, hak_page_t *page) {
  page->is_dirty = 0;
  page->is_zero = 1;
  seg->dirty_pages--;
  heap_dirty_add(heap, -1);
}

void hak_segment_page_free(hak_heap_t *heap, hak_page_t *page) {
  hak_segment_t *seg = hak_ptr_segment(page);
  hak_assert(page->in_use && hak_page_in_use(page) == 0 && page->bias == 0 && hak_segment_owner(seg) == heap);
  hak_assert(!hak_page_is_pinned(page));
  uint64_t now = hak_clock_ms();
  unsigned k = page->slices;
  hak_release_lock(heap);
  page->block_limit = 0; /* no pointer is a block start of a free page */
  page->free = NULL;
  page->used = page->capacity = page->reserved = 0;
  page->mark = 0; /* a thin mark of an emptied page (adoption) is dropped with it */
  page->bias = 0;
  page->in_full = page->has_aligned = 0;
  page->detached = page->purged = 0;
  for (unsigned j = 0; j < k; j++) { /* a large page's span: every slice */
    hak_page_t *slice = page + j;
    slice->in_use = 0;
    slice->span_back = 0;
    slice->slices = 1;
    slice->is_dirty = 1;
    slice->free_since_ms = now;
    seg->free_mask |= (uint64_t)1 << slice->page_index;
  }
  seg->used_pages -= k;
  seg->dirty_pages += k;
  heap_dirty_add(heap, (int32_t)k);
  bool empty = seg->used_pages == 0;
  if (!empty) avail_add(heap, seg);
  hak_release_unlock(heap);
  if (empty) {
    segment_release(heap, seg);
    return;
  }
  if (HAK_POLICY(purge_delay_ms) == 0) {
    hak_release_lock(heap); /* the purge thread may have been faster */
    for (unsigned j = 0; j < k; j++) {
      hak_page_t *slice = page + j;
      if (!slice->is_dirty || slice->in_use) continue;
      size_t n;
      uint8_t *start = page_area(seg, slice, &n);
      hak_os_purge(start, n); /* lean: at once (a page, not an operation) */
      hak_stat_add(purged_page_bytes, n);
      page_mark_purged(heap, seg, slice);
    }
    hak_release_unlock(heap);
  } else {
    /* no pass from here: callers walk their queues around this call (the
     * malloc slow path and the purge thread run the passes) */
    hak_release_schedule(heap, now);
  }
}

/* Purge the free pages whose decay time has passed (all if force); returns
 * the earliest deadline left, or 0. The heap's release lock is held. */
uint64_t hak_segment_purge_due(hak_heap_t *heap, uint64_t now, bool force) {
  if (heap->dirty_pages == 0) return 0;
  long delay = HAK_POLICY(purge_delay_ms);
  if (delay < 0 && !force) return 0;
  uint64_t next = 0;
  for (hak_segment_t *seg = heap->segments; seg != NULL; seg = seg->next) {
    if (seg->dirty_pages == 0) continue;
    /* neighbouring pages go back in one madvise */
    uint8_t *run = NULL;
    size_t run_len = 0;
    for (uint32_t i = 0; i < seg->page_count; i++) {
      hak_page_t *page = &seg->pages[i];
      bool purge = false;
      if (!page->in_use && page->is_dirty) {
        uint64_t due = page->free_since_ms + (uint64_t)(delay > 0 ? delay : 0);
        purge = force || due <= now;
        if (!purge && (next == 0 || due < next)) next = due;
      }
      if (purge) {
        size_t n;
        uint8_t *start = page_area(seg, page, &n);
        hak_stat_add(purged_page_bytes, n);
        if (run != NULL && run + run_len == start) run_len += n;
        else {
          if (run != NULL) hak_os_purge(run, run_len);
          run = start;
          run_len = n;
        }
        page_mark_purged(heap, seg, page);
      }
    }
    if (run != NULL) hak_os_purge(run, run_len);
  }
  return next;
}

/* ---- thread exit -------------------------------------------------------------- */
/* Thread exit: the heap's notified pages are processed and its empty pages
 * freed. Its segments go to the abandoned pool (empty ones are released).
 * First every segment loses its owner and every notification that read the
 * old owner is waited out (see segment_adopt and free.c); the pages those
 * put on this heap's list become ORPHAN, for the adopter to take in hand, so
 * the heap record is recycled with an empty list that nobody pushes on. */
void hak_segment_abandon_all(hak_heap_t *heap) {
  hak_release_pass(heap, true);
  for (hak_segment_t *seg = heap->segments; seg != NULL; seg = seg->next) atomic_store(&seg->owner, NULL);
  for (hak_segment_t *seg = heap->segments; seg != NULL; seg = seg->next)
    for (uint32_t i = 0; i < seg->page_count; i++)
      if (seg->pages[i].in_use) hak_page_wait_pushed(&seg->pages[i]);
  hak_page_t *list = atomic_exchange(&heap->xpages, NULL);
  while (list != NULL) {
    hak_page_t *page = list;
    list = page->xnext;
    hak_page_wait_pushed(page);
    hak_page_set_xstate(page, HAK_XFREE_LISTED, HAK_XFREE_ORPHAN);
  }
  while (heap->segments != NULL) {
    hak_segment_t *seg = heap->segments;
    heap_remove_segment(heap, seg);
    if (seg->used_pages == 0) { segment_release(NULL, seg); continue; }
    hak_lock(&pool_lock);
    seg->abandoned = 1;
    seg->prev = NULL;
    seg->next = pool_abandoned;
    if (pool_abandoned) pool_abandoned->prev = seg;
    pool_abandoned = seg;
    pthread_mutex_unlock(&pool_lock);
    hak_stat_add(segments_abandoned, 1);
  }
}

/* Empty segments in the cache decay: unmapped once unused for the decay
 * time (all if force). Returns true if some are left. */
bool hak_segment_cache_decay(uint64_t now, bool force) {
  long delay = hak_release_cache_delay(now);
  if (delay < 0 && !force) return true;
  hak_segment_t *drop = NULL;
  hak_lock(&pool_lock);
  hak_segment_t **link = &pool_cache;
  while (*link != NULL) {
    hak_segment_t *seg = *link;
    if (force || seg->cached_since_ms + (uint64_t)delay <= now) {
      *link = seg->next;
      pool_cache_count--;
      seg->next = drop;
      drop = seg;
    } else {
      link = &seg->next;
    }
  }
  bool left = pool_cache != NULL;
  pthread_mutex_unlock(&pool_lock);
  bool expired = drop != NULL;
  while (drop) {
    hak_segment_t *next = drop->next;
    hak_segment_unmap(drop);
    if (!force) hak_stat_add(expired_segments, 1);
    drop = next;
  }
  if (expired && !force) hak_release_cache_expired(HAK_CACHE_SEGMENTS, now);
  return left;
}

/* hak_collect: adopt every abandoned segment (so the segments that other
 * threads emptied go back, and the rest serve this heap). */
void hak_segment_collect_abandoned(hak_heap_t *heap) {
  for (hak_segment_t *seg; (seg = pool_take_abandoned()) != NULL;) segment_adopt(heap, seg);
}

/* ---- census (stats.c) ---------------------------------------------------------- */
/* One segment's pages (the caller holds what keeps the segment alive). Pages
 * of other running threads are read racily: a statistic, not a decision. */
void hak_census_segment(hak_census_t *c, const hak_segment_t *seg) {
  c->committed += HAK_SEGMENT_HEADER_SIZE;
  for (uint32_t i = 0; i < seg->page_count; i++) {
    const hak_page_t *page = &seg->pages[i];
    if (page->in_use && page->span_back) continue; /* counted with its span */
    size_t area;
    page_area((hak_segment_t *)seg, (hak_page_t *)page, &area);
    if (!page->in_use) {
      if (page->is_dirty) c->committed += area;
      continue;
    }
    uint32_t in_use = hak_page_in_use(page), cls = page->class_idx;
    if (in_use > page->capacity) in_use = page->capacity;
    uint64_t committed = hak_align_up(hak_page_carved(page), HAK_OS_PAGE_SIZE);
    if (!page->is_zero) committed = area; /* re-used page: the rest may be resident */
    uint64_t purged = hak_release_purged_bytes(page);
    committed = committed > purged ? committed - purged : 0;
    c->committed += committed;
    c->live += (uint64_t)in_use * page->block_size;
    if (cls < HAK_CLASS_COUNT) {
      c->blocks[cls] += in_use;
      c->pages[cls]++;
      c->class_committed[cls] += committed;
    }
  }
}

/* Abandoned segments (their pages count in their classes) and cached ones. */
void hak_segment_census_pools(hak_census_t *c) {
  hak_lock(&pool_lock);
  for (hak_segment_t *seg = pool_abandoned; seg != NULL; seg = seg->next) hak_census_segment(c, seg);
  for (hak_segment_t *seg = pool_cache; seg != NULL; seg = seg->next)
    c->committed += seg->is_zero ? HAK_SEGMENT_HEADER_SIZE : HAK_SEGMENT_SIZE;
  pthread_mutex_unlock(&pool_lock);
}

void hak_segment_atfork_prepare(void) { hak_lock(&pool_lock); }
void hak_segment_atfork_parent(void) { pthread_mutex_unlock(&pool_lock); }
/* In the child a notification another thread left PUSHING never ends: in
 * an abandoned segment it found no owner, so its page is an ORPHAN. */
void hak_segment_atfork_child(void) {
  pthread_mutex_init(&pool_lock, NULL);
  for (hak_segment_t *seg = pool_abandoned; seg != NULL; seg = seg->next)
    for (uint32_t i = 0; i < seg->page_count; i++) {
      hak_page_t *page = &seg->pages[i];
      if (page->in_use && (atomic_load(&page->xthread_free) & HAK_XFREE_STATE) == HAK_XFREE_PUSHING)
        hak_page_set_xstate(page, HAK_XFREE_PUSHING, HAK_XFREE_ORPHAN);
    }
}
