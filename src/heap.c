/* heap.c — one heap per thread: creation on a thread's first allocation,
 * release at thread exit, and the pool of heap records.
 *
 * The thread-local pointer hak_heap_tls starts out at hak_heap_empty, whose
 * page queues are all the static empty page: the first malloc of a thread
 * therefore takes the slow path, which creates the thread's heap. A thread
 * that never allocates never gets a heap; its frees are remote frees.
 *
 * Heap records are never unmapped, only recycled. A record goes back to the
 * pool with an empty xpages list, and no remote thread can push on it
 * afterwards: hak_segment_abandon_all waits out every notification that
 * read the old owner. */
#include <errno.h>

#include "internal.h"
#include "prof.h"

hak_tls hak_heap_t *hak_heap_tls = &hak_heap_empty;
hak_tls bool hak_heap_released;

hak_page_t hak_page_empty;
hak_heap_t hak_heap_empty = {
  .pages_small = { [0 ... HAK_SMALL_DIRECT_COUNT - 1] = &hak_page_empty },
  .pages_direct = { [0 ... HAK_CLASS_COUNT - 1] = &hak_page_empty },
};

/* pages_small[i] serves requests of (i-1)*16+1 .. i*16 bytes (i = 0: size 0). */
void hak_heap_set_small_direct(hak_heap_t *heap, size_t class_idx, hak_page_t *page) {
  size_t lo = class_idx <= 1 ? 0 : hak_class_block_size(class_idx - 1) / 16 + 1;
  size_t hi = hak_class_block_size(class_idx) / 16;
  for (size_t i = lo; i <= hi; i++) heap->pages_small[i] = page;
}

static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(hak_heap_t *) heap_all; /* every record ever made, by all_next */
static hak_heap_t *heap_pool;       /* released records */
static uint8_t *heap_chunk;         /* records are carved from OS chunks */
static size_t heap_chunk_left;
static pthread_key_t heap_key;
static bool heap_key_ok;

#define HEAP_CHUNK_SIZE ((size_t)1 << 20)

void hak_heap_key_create(void) {
  heap_key_ok = pthread_key_create(&heap_key, hak_heap_thread_done) == 0;
}

/* Records are carved from chunks: the first from BSS (so the first threads,
 * the main one included, need no mapping), then from mapped chunks. No lock
 * is held across the mmap: an interposed mmap may allocate, and that
 * allocation comes back here. */
#define HEAP_RECORD_SIZE ((sizeof(hak_heap_t) + 63) & ~(size_t)63)
static _Alignas(64) uint8_t heap_first_chunk[8 * HEAP_RECORD_SIZE];

static hak_heap_t *heap_carve(void) { /* heap_lock held */
  if (heap_chunk_left < HEAP_RECORD_SIZE) return NULL;
  hak_heap_t *heap = (hak_heap_t *)heap_chunk;
  heap_chunk += HEAP_RECORD_SIZE;
  heap_chunk_left -= HEAP_RECORD_SIZE;
  heap->all_next = atomic_load_explicit(&heap_all, memory_order_relaxed);
  atomic_store_explicit(&heap_all, heap, memory_order_release);
  return heap;
}

static hak_heap_t *heap_record_alloc(void) {
  hak_lock(&heap_lock);
  if (heap_chunk == NULL) { /* first use: the chunk in BSS */
    heap_chunk = heap_first_chunk;
    heap_chunk_left = sizeof(heap_first_chunk);
  }
  hak_heap_t *heap = heap_pool;
  if (heap != NULL) heap_pool = heap->pool_next;
  else heap = heap_carve();
  pthread_mutex_unlock(&heap_lock);
  if (heap != NULL) return heap;
  uint8_t *chunk = hak_os_alloc_aligned(HEAP_CHUNK_SIZE, HAK_OS_PAGE_SIZE);
  if (chunk == NULL) return NULL;
  hak_lock(&heap_lock);
  /* the rest of the old chunk, if any, is dropped: records are never freed */
  heap_chunk = chunk;
  heap_chunk_left = HEAP_CHUNK_SIZE;
  heap = heap_carve();
  pthread_mutex_unlock(&heap_lock);
  return heap;
}

hak_heap_t *hak_heap_init_thread(void) {
  if (hak_unlikely(atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2)) hak_init();
  if (hak_heap_tls != &hak_heap_empty) return hak_heap_tls; /* made by a recursive call */
  hak_heap_t *heap = heap_record_alloc();
  if (heap == NULL) return NULL;
  if (hak_heap_tls != &hak_heap_empty) { /* an allocation inside our mmap made one */
    hak_lock(&heap_lock);
    heap->pool_next = heap_pool;
    heap_pool = heap;
    pthread_mutex_unlock(&heap_lock);
    return hak_heap_tls;
  }
  /* the purge thread may be looking at the record (it has no work in it):
   * keep the registry link, and clear the rest under the release lock */
  hak_release_lock(heap);
  /* everything before all_next is owner state; the fields from all_next on
   * are read by the purge thread: set one by one, then the unlock publishes */
  memset(heap, 0, offsetof(hak_heap_t, all_next));
  heap->pending = NULL;
  atomic_store_explicit(&heap->release_work, 0, memory_order_relaxed);
  heap->next_release_ms = heap->last_pass_ms = heap->last_walk_ms = 0;
  heap->release_ticks = 0;
  heap->in_pass = false;
  for (size_t c = 0; c < HAK_CLASS_COUNT; c++) heap->pages_direct[c] = &hak_page_empty;
  for (size_t i = 0; i < HAK_SMALL_DIRECT_COUNT; i++) heap->pages_small[i] = &hak_page_empty;
  heap->live = true;
  hak_release_unlock(heap);
  hak_heap_tls = heap;
  hak_stat_add(heaps_created, 1);
  hak_stat_add(heaps_live, 1);
  /* keys below PTHREAD_KEY_2NDLEVEL_SIZE need no allocation; if glibc did
   * allocate here, the heap is already installed and serves it. */
  if (heap_key_ok) pthread_setspecific(heap_key, heap);
  return heap;
}

/* Give every empty page back; used pages stay in their segments. */
static void heap_free_empty_pages(hak_heap_t *heap) {
  for (size_t q = 0; q <= HAK_CLASS_COUNT; q++) {
    hak_page_t *page = heap->queues[q].first;
    while (page != NULL) {
      hak_page_t *next = page->next;
      hak_page_collect(heap, page);
      if (hak_page_in_use(page) == 0 && !hak_page_is_pinned(page)) {
        if (page->mark != 0) hak_page_set_mark(page, 0);
        if (page->in_full) page->in_full = 0;
        hak_queue_remove(heap, q, page);
        hak_segment_page_free(heap, page);
      } else if (page->in_full && page->free != NULL) {
        hak_page_unfull(heap, page); /* remote frees came back */
      }
      page = next;
    }
  }
}

/* pthread key destructor: the thread is exiting. */
void hak_heap_thread_done(void *arg) {
  hak_heap_t *heap = arg;
  if (heap == NULL || heap == &hak_heap_empty || !heap->live) return;
  /* A later allocation by this thread (another TLS destructor) makes a new
   * heap, released again if glibc runs the key destructors once more. */
  hak_heap_tls = &hak_heap_empty;
  hak_heap_released = true;
  if (hak_unlikely(hak_prof_on)) hak_prof_heap_flush(heap); /* the profiler's windows */
  HAK_XCACHE_FLUSH(heap); /* blocks cached for other threads' pages */
  hak_page_process_xpages(heap);
  heap_free_empty_pages(heap);
  hak_segment_abandon_all(heap);
  hak_stats_merge_heap(&heap->stats);
  heap->live = false;
  hak_stat_sub(heaps_live, 1);
  hak_lock(&heap_lock);
  heap->pool_next = heap_pool;
  heap_pool = heap;
  pthread_mutex_unlock(&heap_lock);
}

/* A heap made by a thread that had already released its own at exit:
 * release it now (and take it out of the key, so no later destructor round
 * sees a record that may belong to another thread by then). */
void hak_heap_release_current(void) {
  hak_heap_t *heap = hak_heap_tls;
  if (heap == &hak_heap_empty) return;
  if (heap_key_ok) pthread_setspecific(heap_key, NULL);
  hak_heap_thread_done(heap);
}

/* hak_collect for the calling thread: adopt abandoned segments, free empty
 * pages, purge free memory (also inside pages in use). */
void hak_heap_collect(hak_heap_t *heap) {
  if (heap == &hak_heap_empty) return;
  if (hak_unlikely(hak_prof_on)) hak_prof_heap_flush(heap); /* the profiler's windows */
  HAK_XCACHE_FLUSH(heap);
  hak_page_process_xpages(heap);
  hak_segment_collect_abandoned(heap);
  heap_free_empty_pages(heap);
  hak_release_pass(heap, true);
}

/* Every live heap's segments, under its release lock (the segment list is
 * stable; page fields of other running threads are a racy snapshot). */
void hak_heap_census(hak_census_t *c) {
  for (hak_heap_t *heap = hak_heap_all(); heap != NULL; heap = heap->all_next) {
    hak_release_lock(heap);
    for (hak_segment_t *seg = heap->segments; seg != NULL; seg = seg->next) hak_census_segment(c, seg);
    hak_release_unlock(heap);
  }
}

hak_heap_t *hak_heap_all(void) { return atomic_load_explicit(&heap_all, memory_order_acquire); }

void hak_heap_atfork_prepare(void) {
  if (hak_heap_tls != &hak_heap_empty) HAK_XCACHE_FLUSH(hak_heap_tls); /* nothing cached crosses a fork */
  hak_lock(&heap_lock);
}
void hak_heap_atfork_parent(void) { pthread_mutex_unlock(&heap_lock); }
void hak_heap_atfork_child(void) {
  pthread_mutex_init(&heap_lock, NULL);
  if (hak_heap_tls != &hak_heap_empty) hak_page_atfork_child(hak_heap_tls);
}
