/* release.c — the release policy: which free memory goes back to the OS, and
 * when. os.c does the madvise/munmap; this file decides.
 *
 * What can go back:
 *   - free pages: whole pages given back to their segment (segment.c marks
 *     them dirty until purged);
 *   - detached units of pages still in use: when a page has thinned out, the
 *     parts of it whose blocks are all free are taken off its free list
 *     ("detached") so that nobody touches them, and can then be purged. A
 *     unit is one OS page (4 KiB) of a small page, or a run of whole blocks
 *     (one block from 8 KiB up) of a medium or large page. A block overlapping
 *     any detached unit is off the free list; when the owner runs out of blocks it re-attaches a
 *     unit (its blocks come back, zero where the unit was purged) before
 *     carving new ones;
 *   - empty segments in the segment cache, mappings in the large-block cache
 *     (segment.c, large.c keep the time each entered).
 *
 * When: step decay. Memory goes back once it has stayed unused for the
 * profile's decay time (HAKMEM_PURGE_DELAY): memory the program keeps
 * re-using within that time is never purged (re-attaching or re-using a
 * page cancels its purge without a system call), memory it stopped using
 * goes back. decay 0 (lean) purges at once, but only at the events below,
 * never per malloc/free; decay < 0 keeps everything.
 *
 * Who, and on which paths (never the malloc/free fast paths):
 *   - the owner: a page's in-use count crossing its thin mark (the free fast
 *     path's existing "used reached 0" branch: `used` counts from the mark),
 *     a page running out (re-attach), and a pass over its pending memory
 *     when its deadline is due, checked on the malloc slow path (a page
 *     freed only schedules); forced by hak_collect/malloc_trim and at thread
 *     exit;
 *   - the purge thread, for owners that went idle and for the shared caches:
 *     started on first need, exits after a while with nothing to do, re-made
 *     after fork; HAKMEM_PURGE_THREAD=0 turns it off.
 *
 * Locking: a heap's release_lock (a spin lock, taken on slow paths only)
 * guards what the purge thread reads or writes for that heap: its segment
 * list, pages' in_use/is_dirty/detached/purged, dirty counts and the pending
 * list. The owner's free lists are never touched by the purge thread: it only
 * purges memory whose blocks are off every list. bg_lock serialises the purge
 * thread's rounds; the fork prepare handler takes it, so no heap lock is held
 * by the purge thread across fork. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include "internal.h"
#include "prof.h"

#define UNIT_SIZE HAK_OS_PAGE_SIZE
/* Thin marks: the first at half of the page's blocks, each next one at a
 * quarter of what is still in use (so a page emptying out is visited a few
 * times, about log4 of its blocks, not at every free). */
#define MARK_SHIFT 2

/* ---- the heap's release lock -------------------------------------------- */
void hak_release_lock(hak_heap_t *heap) {
  int expect = 0;
  while (!atomic_compare_exchange_weak_explicit(&heap->release_lock, &expect, 1, memory_order_acquire,
                                                memory_order_relaxed)) {
    expect = 0;
    sched_yield();
  }
}

static bool release_trylock(hak_heap_t *heap) {
  int expect = 0;
  return atomic_compare_exchange_strong_explicit(&heap->release_lock, &expect, 1, memory_order_acquire,
                                                 memory_order_relaxed);
}

void hak_release_unlock(hak_heap_t *heap) { atomic_store_explicit(&heap->release_lock, 0, memory_order_release); }

static bool decay_off(void) { return HAK_POLICY(purge_delay_ms) < 0; }

/* How often the owner passes over its pages while it calls the allocator. */
static long pass_period(void) {
  long d = HAK_POLICY(purge_delay_ms);
  return d < 10 ? 10 : d;
}

/* How often it walks its queues for remote frees (an atomic load per page). */
static uint64_t walk_period(void) {
  long d = HAK_POLICY(purge_delay_ms) / 4;
  return (uint64_t)(d < 10 ? 10 : d);
}

/* ---- units of a page ---------------------------------------------------- */
/* Small pages: a unit is an OS page. Medium and large pages: a unit is a run
 * of whole blocks, as few as fit 64 units in the page (one block from 8 KiB
 * up; two for the 4-8 KiB classes, whose pages hold up to 127 blocks). */
static bool unit_is_block(const hak_page_t *page) { return page->block_size > HAK_SMALL_MAX; }
static uint32_t unit_run(const hak_page_t *page) { return (page->reserved + 63) / 64; }

/* Whole units of the carved area (a partly carved run is not one). */
static unsigned unit_count(const hak_page_t *page) {
  if (unit_is_block(page)) return page->capacity / unit_run(page);
  return hak_page_carved(page) / UNIT_SIZE;
}

/* Blocks [lo, hi) overlap unit u. */
static void unit_blocks(const hak_page_t *page, unsigned u, uint32_t *lo, uint32_t *hi) {
  if (unit_is_block(page)) {
    uint32_t k = unit_run(page);
    *lo = u * k;
    *hi = *lo + k;
    return;
  }
  size_t a = (size_t)u * UNIT_SIZE, b = a + UNIT_SIZE, bs = page->block_size;
  *lo = (uint32_t)(a / bs);
  uint32_t h = (uint32_t)((b + bs - 1) / bs);
  *hi = h < page->capacity ? h : page->capacity;
}

/* The units block i overlaps, as a mask. */
static uint64_t block_units(const hak_page_t *page, uint32_t i) {
  if (unit_is_block(page)) return (uint64_t)1 << (i / unit_run(page));
  size_t a = (size_t)i * page->block_size, b = a + page->block_size - 1;
  unsigned ua = (unsigned)(a / UNIT_SIZE), ub = (unsigned)(b / UNIT_SIZE);
  if (ub > 63) ub = 63;
  return (ub - ua == 63 ? ~(uint64_t)0 : (((uint64_t)2 << (ub - ua)) - 1)) << ua;
}

/* The memory of unit u that can be purged: the OS pages inside it. */
static uint8_t *unit_range(const hak_page_t *page, unsigned u, size_t *len) {
  uint8_t *a, *b;
  if (unit_is_block(page)) {
    size_t run = (size_t)unit_run(page) * page->block_size;
    a = (uint8_t *)hak_align_up((uintptr_t)(page->start + (size_t)u * run), UNIT_SIZE);
    b = (uint8_t *)(((uintptr_t)(page->start + (size_t)(u + 1) * run)) & ~(UNIT_SIZE - 1));
  } else {
    a = page->start + (size_t)u * UNIT_SIZE;
    b = a + UNIT_SIZE;
  }
  *len = b > a ? (size_t)(b - a) : 0;
  return a;
}

/* Blocks of the page that are off the free list because they overlap a
 * detached unit (for validation). */
uint32_t hak_release_detached_blocks(const hak_page_t *page) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < page->capacity; i++) n += (block_units(page, i) & page->detached) != 0;
  return n;
}

/* Bytes of the page given back to the OS by sub-page purge (census). */
uint64_t hak_release_purged_bytes(const hak_page_t *page) {
  uint64_t bytes = 0, todo = page->purged;
  while (todo) {
    unsigned u = (unsigned)__builtin_ctzll(todo);
    todo &= todo - 1;
    size_t n;
    unit_range(page, u, &n);
    bytes += n;
  }
  return bytes;
}

/* ---- pending pages --------------------------------------------------------- */
static void pending_add(hak_heap_t *heap, hak_page_t *page, uint64_t now) {
  if (page->in_pending) return;
  page->in_pending = 1;
  page->free_since_ms = now;
  page->pnext = heap->pending;
  heap->pending = page;
  atomic_fetch_add_explicit(&heap->release_work, 1, memory_order_relaxed);
}

/* Purge the detached units of a page that are not purged yet (lock held). */
static void page_purge_detached(hak_page_t *page) {
  uint64_t todo = page->detached & ~page->purged;
  uint8_t *run = NULL;
  size_t run_len = 0;
  while (todo) {
    unsigned u = (unsigned)__builtin_ctzll(todo);
    todo &= todo - 1;
    size_t n;
    uint8_t *p = unit_range(page, u, &n);
    if (n == 0) continue;
    hak_stat_add(purged_unit_bytes, n);
    if (run != NULL && run + run_len == p) { run_len += n; continue; }
    if (run != NULL) hak_os_purge(run, run_len);
    run = p;
    run_len = n;
  }
  if (run != NULL) hak_os_purge(run, run_len);
  page->purged = page->detached;
}

/* Walk the pending list: purge what is due (everything if force), drop
 * entries with nothing left to purge. Returns the earliest deadline left, or
 * 0. Lock held. */
static uint64_t pending_pass(hak_heap_t *heap, uint64_t now, bool force) {
  uint64_t delay = (uint64_t)(HAK_POLICY(purge_delay_ms) > 0 ? HAK_POLICY(purge_delay_ms) : 0), next = 0;
  hak_page_t **link = &heap->pending;
  while (*link != NULL) {
    hak_page_t *page = *link;
    bool keep = page->in_use && (page->detached & ~page->purged) != 0;
    if (keep && (force || page->free_since_ms + delay <= now)) {
      page_purge_detached(page);
      keep = false;
    }
    if (!keep) {
      *link = page->pnext;
      page->in_pending = 0;
      page->pnext = NULL;
      atomic_fetch_sub_explicit(&heap->release_work, 1, memory_order_relaxed);
      continue;
    }
    uint64_t due = page->free_since_ms + delay;
    if (next == 0 || due < next) next = due;
    link = &page->pnext;
  }
  return next;
}

/* A segment leaves the heap: none of its pages may stay on the pending list. */
void hak_release_forget_segment(hak_heap_t *heap, hak_segment_t *seg) {
  hak_page_t **link = &heap->pending;
  while (*link != NULL) {
    hak_page_t *page = *link;
    if (hak_ptr_segment(page) == seg) {
      *link = page->pnext;
      page->in_pending = 0;
      page->pnext = NULL;
      atomic_fetch_sub_explicit(&heap->release_work, 1, memory_order_relaxed);
    } else {
      link = &page->pnext;
    }
  }
}

/* ---- detaching and re-attaching (owner only) -------------------------------- */
/* Take the units of the page whose blocks are all free off its free list;
 * they are purged now (decay 0) or when their decay time has passed. */
static void page_detach_free_units(hak_heap_t *heap, hak_page_t *page) {
  unsigned units = unit_count(page);
  if (units == 0 || page->free == NULL) return;
  if (units > 64) units = 64;
  /* bits, by block index: a page holds at most 64 KiB / 16 B blocks (medium
   * pages hold blocks above 4 KiB, spans one block); 512 bytes of stack */
  uint64_t is_free[(((size_t)1 << HAK_SMALL_PAGE_SHIFT) / HAK_MIN_ALIGN + 63) / 64];
  size_t words = ((size_t)page->capacity + 63) / 64;
  if (words > sizeof(is_free) / sizeof(is_free[0])) return;
  memset(is_free, 0, words * sizeof(uint64_t));
  size_t listed = 0;
  for (hak_block_t *b = page->free; b != NULL; b = hak_link_get(b)) {
    size_t i = (size_t)(((unsigned __int128)((uint8_t *)b - page->start) * page->block_divisor) >> 64);
    if (++listed > page->capacity || i >= page->capacity) hak_fatal_at("corrupt free list in the page at", page->start);
    is_free[i / 64] |= (uint64_t)1 << (i % 64);
  }
  uint64_t add = 0;
  for (unsigned u = 0; u < units; u++) {
    if ((page->detached >> u) & 1) continue;
    uint32_t lo, hi;
    unit_blocks(page, u, &lo, &hi);
    bool all = lo < hi;
    for (uint32_t i = lo; i < hi && all; i++)
      all = ((is_free[i / 64] >> (i % 64)) & 1) || (block_units(page, i) & page->detached) != 0;
    if (all) add |= (uint64_t)1 << u;
  }
  if (add == 0) return;
  /* unlink every block that overlaps a newly detached unit */
  uint64_t off = page->detached | add;
  hak_block_t *prev = NULL;
  for (hak_block_t *b = page->free, *next; b != NULL; b = next) {
    next = hak_link_get(b);
    uint32_t i = (uint32_t)(((unsigned __int128)((uint8_t *)b - page->start) * page->block_divisor) >> 64);
    if (!(block_units(page, i) & off)) prev = b;
    else if (prev != NULL) hak_link_set(prev, next);
    else page->free = next;
  }
  uint64_t now = hak_clock_ms();
  hak_release_lock(heap);
  page->detached |= add;
  pending_add(heap, page, now);
  if (HAK_POLICY(purge_delay_ms) == 0) pending_pass(heap, now, true);
  hak_release_unlock(heap);
  heap->stats.units_detached += (uint64_t)__builtin_popcountll(add);
  if (HAK_POLICY(purge_delay_ms) != 0) hak_release_schedule(heap, now);
}

/* The page's in-use count reached its thin mark (mark > 0, `used` == 0 or
 * below): detach its free units (unless the owner is collecting blocks other
 * threads freed: it is about to allocate from them) and set the next mark. */
void hak_release_thinned(hak_heap_t *heap, hak_page_t *page, bool detach) {
  hak_assert(page->mark != 0);
  if (detach && !decay_off()) page_detach_free_units(heap, page);
  uint32_t in_use_bias = page->used + page->mark; /* in use + bias */
  hak_page_set_mark(page, in_use_bias >> MARK_SHIFT);
}

/* The page grew (blocks carved, every earlier one in use) or ran out: arm
 * it for thin events, the first when half of its blocks are free. */
void hak_release_page_full(hak_page_t *page) {
  if (decay_off() || unit_count(page) < 2) return;
  uint32_t m = page->capacity >> 1;
  if (m > page->mark && m < page->used + page->mark) hak_page_set_mark(page, m);
}

/* The page's free list is empty: re-attach detached units, lowest first,
 * until some block comes back. Returns true if the free list is non-empty. */
bool hak_release_reattach(hak_heap_t *heap, hak_page_t *page) {
  while (page->free == NULL && page->detached != 0) {
    unsigned u = (unsigned)__builtin_ctzll(page->detached);
    uint64_t bit = (uint64_t)1 << u;
    hak_release_lock(heap);
    page->detached &= ~bit;
    page->purged &= ~bit;
    hak_release_unlock(heap);
    uint32_t lo, hi;
    unit_blocks(page, u, &lo, &hi);
    /* push in reverse so the list runs in address order */
    for (uint32_t i = hi; i-- > lo;) {
      if (block_units(page, i) & page->detached) continue; /* still held by another unit */
      hak_block_t *b = (hak_block_t *)(page->start + (size_t)i * page->block_size);
      hak_link_set(b, page->free);
      page->free = b;
    }
    page->free_is_zero = 0;
    heap->stats.units_reattached++;
  }
  return page->free != NULL;
}

/* ---- passes ------------------------------------------------------------------ */
/* Purge what is due for this heap: detached units and free pages (lock
 * held). Returns the next deadline, or 0 if nothing is left to purge. */
static uint64_t heap_pass_locked(hak_heap_t *heap, uint64_t now, bool force) {
  uint64_t a = pending_pass(heap, now, force);
  uint64_t b = hak_segment_purge_due(heap, now, force);
  return a == 0 ? b : b == 0 ? a : (a < b ? a : b);
}

/* The owner's pass. Forced (hak_collect, thread exit), or from the tick.
 *   1. Every quarter decay period at most (and when forced): collect the blocks other
 *      threads freed into every page of the class queues, and retire pages
 *      that turn out empty. A page behind the front of its queue is not
 *      looked at by malloc while the front has blocks, so without this its
 *      remote frees would pile up uncollected (memory free but counted in
 *      use: it grew with every short-lived thread whose blocks outlived it).
 *      One atomic load per page.
 *   2. Forced only: detach the free parts of every page (walking free lists
 *      is O(blocks); in normal running thin events do it page by page).
 *   3. Purge what is due: detached units and free pages (lock held). */
void hak_release_pass(hak_heap_t *heap, bool force) {
  if (heap->in_pass) return; /* retiring a page below may tick */
  uint64_t now = hak_clock_ms();
  bool walk = force || now - heap->last_walk_ms >= walk_period();
  heap->last_pass_ms = now;
  if (walk) {
    heap->last_walk_ms = now;
    heap->in_pass = true;
    for (size_t q = 0; q < HAK_CLASS_COUNT; q++)
      for (hak_page_t *page = heap->queues[q].first, *next; page != NULL; page = next) {
        next = page->next;
        if ((atomic_load_explicit(&page->xthread_free, memory_order_relaxed) & ~HAK_XFREE_STATE) != 0) {
          hak_page_collect(heap, page);
          if (page->used == 0 && page->mark == 0) { hak_page_retire(heap, page); continue; }
        }
        if (!force || decay_off()) continue;
        uint32_t in_use = hak_page_in_use(page);
        if (page->free != NULL && (size_t)(page->capacity - in_use) * page->block_size >= 2 * UNIT_SIZE)
          page_detach_free_units(heap, page);
      }
    heap->in_pass = false;
  }
  if (decay_off() && !force) return;
  hak_release_lock(heap);
  uint64_t next = heap_pass_locked(heap, now, force);
  hak_release_unlock(heap);
  heap->next_release_ms = next;
  if (next != 0) hak_release_wake();
}

/* Slow-path tick of the owner: a clock read every 8th call; a pass when a
 * deadline is due (at most every quarter decay period: purges are batched)
 * or a quarter decay period has gone by since the last walk. */
void hak_release_tick(hak_heap_t *heap) {
  if ((++heap->release_ticks & 7) != 0 || heap->in_pass) return;
  uint64_t now = hak_clock_ms();
  uint64_t gap = (uint64_t)pass_period() / 4;
  if ((heap->next_release_ms != 0 && now >= heap->next_release_ms && now - heap->last_pass_ms >= gap) ||
      now - heap->last_walk_ms >= walk_period())
    hak_release_pass(heap, false);
}

/* ---- adaptive decay of the shared caches -------------------------------------
 * Empty segments and large mappings in the shared caches decay after the
 * cache delay. It starts at the profile's decay and adapts to regret: when the
 * program maps fresh memory of a kind within twice the delay of the caches
 * giving memory of that kind back, the purge bought nothing but a system call
 * and page faults (a program churning big buffers, at the lean profile's
 * 10 ms). The delay then doubles, up to 8 times the profile's but never past
 * the default (balanced) decay; after 16 delays without regret it halves
 * again, down to the profile's. So a short decay holds for a program that
 * frees and stops, and stretches for one that keeps taking the memory back;
 * balanced and speed keep theirs (stretching balanced's cost the varying soak
 * 10-20% more RSS while its live set fell, and gained no speed anywhere).
 * Slow paths only (a cache miss, an expiry). */
#define CACHE_DELAY_MAX_FACTOR 8
#define CACHE_CALM_DELAYS 16

static _Atomic(long) cache_delay;           /* 0: not adapted yet (the profile's) */
static _Atomic(uint64_t) cache_expired_ms[2]; /* last expiry by kind */
static _Atomic(uint64_t) cache_regret_ms;     /* last regret (or relaxation) */

long hak_release_cache_delay(uint64_t now) {
  long base = HAK_POLICY(purge_delay_ms);
  long d = atomic_load_explicit(&cache_delay, memory_order_relaxed);
  if (base <= 0 || d <= base) return base;
  uint64_t last = atomic_load_explicit(&cache_regret_ms, memory_order_relaxed);
  if (now > last + (uint64_t)d * CACHE_CALM_DELAYS) { /* calm: relax one step */
    long half = d / 2 < base ? base : d / 2;
    if (atomic_compare_exchange_strong(&cache_delay, &d, half)) {
      atomic_store_explicit(&cache_regret_ms, now, memory_order_relaxed);
      d = half;
    }
  }
  return d;
}

void hak_release_cache_expired(hak_cache_kind_t kind, uint64_t now) {
  atomic_store_explicit(&cache_expired_ms[kind], now, memory_order_relaxed);
}

void hak_release_cache_missed(hak_cache_kind_t kind) {
  long base = HAK_POLICY(purge_delay_ms);
  uint64_t expired = atomic_load_explicit(&cache_expired_ms[kind], memory_order_relaxed);
  if (base <= 0 || expired == 0) return;
  uint64_t now = hak_clock_ms();
  long d = hak_release_cache_delay(now);
  if (now > expired + 2 * (uint64_t)d) return; /* long ago: no regret */
  long max = base * CACHE_DELAY_MAX_FACTOR;
  if (max > HAK_DEFAULT_PURGE_DELAY_MS) max = base > HAK_DEFAULT_PURGE_DELAY_MS ? base : HAK_DEFAULT_PURGE_DELAY_MS;
  if (d < max) {
    atomic_store_explicit(&cache_delay, d * 2 > max ? max : d * 2, memory_order_relaxed);
    hak_stat_add(cache_regrets, 1);
  }
  atomic_store_explicit(&cache_regret_ms, now, memory_order_relaxed);
}

/* Something was left to purge later (a free page, a detached unit, a cache
 * entry): make sure a deadline exists. */
void hak_release_schedule(hak_heap_t *heap, uint64_t now) {
  if (decay_off()) return;
  uint64_t due = now + (uint64_t)HAK_POLICY(purge_delay_ms);
  if (heap != NULL && (heap->next_release_ms == 0 || due < heap->next_release_ms)) heap->next_release_ms = due;
  hak_release_wake();
}

/* ---- the purge thread ---------------------------------------------------------- */
static pthread_mutex_t bg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(int) bg_running;   /* 0 none, 1 running (or starting) */
static _Atomic(uint64_t) bg_retry_ms; /* could not start: not before this time, */
static _Atomic(uint32_t) bg_refused;  /* or before 64 more wake-ups */

/* One round over every heap and the shared caches; true if work remains. */
static bool bg_round(uint64_t now) {
  bool more = false;
  for (hak_heap_t *heap = hak_heap_all(); heap != NULL; heap = heap->all_next) {
    if (atomic_load_explicit(&heap->release_work, memory_order_relaxed) == 0) continue;
    if (!release_trylock(heap)) { more = true; continue; }
    more |= heap_pass_locked(heap, now, false) != 0;
    hak_release_unlock(heap);
  }
  more |= hak_segment_cache_decay(now, false);
  more |= hak_large_cache_decay(now, false);
  return more;
}

static void *bg_main(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "hakmem-purge"); /* named by itself: it is detached */
  hak_heap_released = true; /* it never gets a heap: glibc's frees at its exit do not adopt */
  long delay = HAK_POLICY(purge_delay_ms);
  long period = delay / 4;
  if (period < 5) period = 5;
  if (period > 250) period = 250;
  int idle = 0;
  for (;;) {
    struct timespec ts = {period / 1000, (period % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    pthread_mutex_lock(&bg_lock);
    bool more = bg_round(hak_clock_ms());
    pthread_mutex_unlock(&bg_lock);
    if (more) { idle = 0; continue; }
    if (++idle < 20) continue;
    /* nothing for a while: exit; a producer that posted work meanwhile
     * either sees bg_running == 0 and starts a new thread, or we see its work */
    atomic_store(&bg_running, 0);
    pthread_mutex_lock(&bg_lock);
    more = bg_round(hak_clock_ms());
    pthread_mutex_unlock(&bg_lock);
    int expect = 0;
    if (!more || !atomic_compare_exchange_strong(&bg_running, &expect, 1)) return NULL;
    idle = 0;
  }
}

/* Work was posted: make sure the purge thread runs (started lazily; never
 * from inside a lock of ours). */
void hak_release_wake(void) {
  /* seq_cst, after the work was posted: pairs with the purge thread's exit
   * (it clears bg_running, then looks for work once more) */
  if (!HAK_POLICY(purge_thread) || decay_off() || atomic_load(&bg_running)) return;
  uint64_t retry = atomic_load_explicit(&bg_retry_ms, memory_order_relaxed);
  if (retry != 0 && hak_clock_ms() < retry &&
      (atomic_fetch_add_explicit(&bg_refused, 1, memory_order_relaxed) & 63) != 63)
    return;
  int expect = 0;
  if (!atomic_compare_exchange_strong(&bg_running, &expect, 1)) return;
  pthread_attr_t attr;
  pthread_t t;
  sigset_t all, old;
  sigfillset(&all);
  /* From a thread whose heap was released at exit, pthread_create's own
   * allocation (the new thread's TLS vector) makes the exiting thread a new
   * heap: released again right after, not left to a destructor round that
   * may never come. */
  bool exiting = hak_heap_released && hak_heap_tls == &hak_heap_empty;
  bool ok = pthread_attr_init(&attr) == 0;
  if (ok) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 << 10);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread takes no signals */
    int saved = errno;
    ok = pthread_create(&t, &attr, bg_main, NULL) == 0;
    errno = saved;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
  }
  if (exiting && hak_heap_tls != &hak_heap_empty) hak_heap_release_current();
  if (!ok) {
    /* e.g. RLIMIT_AS or a thread limit for a moment: slow paths still purge,
     * and a later wake-up tries again 10 ms or 64 wake-ups on */
    atomic_store(&bg_retry_ms, hak_clock_ms() + 10);
    atomic_store(&bg_running, 0);
  }
}

void hak_release_atfork_prepare(void) { pthread_mutex_lock(&bg_lock); }
void hak_release_atfork_parent(void) { pthread_mutex_unlock(&bg_lock); }
/* The OS refused a mapping: give back every cached mapping now so that the
 * caller can try once more (a freed 24 MiB buffer in the large cache must not
 * make a 1 MiB allocation fail). Returns true if something was unmapped. */
bool hak_release_emergency(void) {
  uint64_t before = atomic_load_explicit(&hak_stats.os_munmap, memory_order_relaxed);
  hak_segment_cache_decay(0, true);
  hak_large_cache_decay(0, true);
  return atomic_load_explicit(&hak_stats.os_munmap, memory_order_relaxed) != before;
}

void hak_release_atfork_child(void) {
  pthread_mutex_init(&bg_lock, NULL);
  atomic_store(&bg_running, 0); /* threads do not survive fork: made again on need */
}
