/* hakmem internal interface: the functions files call across each other,
 * grouped by the file that defines them, then small inline helpers. */
#ifndef HAK_INTERNAL_H
#define HAK_INTERNAL_H

#include <pthread.h>
#include <string.h>

#include "types.h"

#define hak_likely(x) __builtin_expect(!!(x), 1)
#define hak_unlikely(x) __builtin_expect(!!(x), 0)
#define hak_noinline __attribute__((noinline))
#define hak_internal __attribute__((visibility("hidden")))
#define hak_tls __thread __attribute__((tls_model("initial-exec")))

/* Graduated checks: hak_assert is cheap (HAK_DEBUG >= 1), hak_assert_expensive
 * walks whole pages and segments (HAK_DEBUG >= 2). Release builds have none. */
#if HAK_DEBUG > 0
#define hak_assert(c) ((c) ? (void)0 : hak_assert_fail(#c, __FILE__, __LINE__))
#else
#define hak_assert(c) ((void)0)
#endif
#if HAK_DEBUG > 1
#define hak_assert_expensive(c) hak_assert(c)
#else
#define hak_assert_expensive(c) ((void)0)
#endif

/* ---- options.c ---------------------------------------------------------- */
typedef enum hak_invalid_mode_e { HAK_INVALID_ABORT, HAK_INVALID_WARN, HAK_INVALID_IGNORE } hak_invalid_mode_t;
typedef struct hak_options_s {
  const char *profile;       /* "speed", "balanced", "lean" */
  long purge_delay_ms;       /* free pages are purged after this long; 0 = at once, <0 = never */
  size_t segment_cache;      /* empty segments kept for reuse (process-wide) */
  size_t large_cache_bytes;  /* freed large mappings kept for reuse */
  bool no_thp;               /* madvise(MADV_NOHUGEPAGE) on segments */
  bool purge_thread;         /* a background thread purges for idle threads and the caches */
  hak_invalid_mode_t invalid;
  int stats;                 /* print stats to stderr at exit: 0 no, 1 text, 2 JSON */
  char stats_file[256];      /* append stats to this file at exit */
  /* heap profiler (prof.c) */
  bool prof;                 /* HAKMEM_PROF */
  bool prof_leaks;           /* HAKMEM_PROF_LEAKS: report live samples at exit */
  size_t prof_sample;        /* HAKMEM_PROF_SAMPLE: mean bytes between samples (0: default) */
  uint64_t prof_seed;        /* HAKMEM_PROF_SEED: fixed sampling seed (tests), 0: random */
  char prof_file[256];       /* HAKMEM_PROF_FILE */
} hak_options_t;
extern hak_options_t hak_options hak_internal;
void hak_options_init(void) hak_internal;

/* Build flavours (Makefile: make fast, make observe):
 *   HAK_FAST     policy options are compile-time constants (the balanced
 *                profile); the environment can still ask for stats output and
 *                the invalid-free mode.
 *   HAK_OBSERVE  counters on the fast paths: allocations and frees per size
 *                class, fast vs slow path, remote frees (HAKMEM_STATS shows
 *                them).
 * The standard build reads the policy at start-up and counts only slow-path
 * events; its malloc and free fast paths load no option and no counter. */
#ifndef HAK_FAST
#define HAK_FAST 0
#endif
#ifndef HAK_OBSERVE
#define HAK_OBSERVE 0
#endif
#if HAK_FAST
#define HAK_POLICY(field) HAK_FIXED_##field
#define HAK_FIXED_purge_delay_ms HAK_DEFAULT_PURGE_DELAY_MS
#define HAK_FIXED_segment_cache ((size_t)16)
#define HAK_FIXED_large_cache_bytes ((size_t)1 << 30)
#define HAK_FIXED_no_thp false
#define HAK_FIXED_purge_thread true
#else
#define HAK_POLICY(field) (hak_options.field)
#endif
#if HAK_OBSERVE
#define HAK_OBSERVE_INC(x) ((x)++)
#else
#define HAK_OBSERVE_INC(x) ((void)0)
#endif

/* The balanced profile's decay (ms): the default, and the most the shared
 * caches' adaptive decay stretches a shorter one to (release.c). */
#define HAK_DEFAULT_PURGE_DELAY_MS 100L

/* ---- stats.c ------------------------------------------------------------ */
/* Process-wide counters, updated with relaxed atomics on rare paths only. */
#define HAK_STAT_FIELDS(X)                                                            \
  X(os_mmap) X(os_munmap) X(os_madvise) X(os_mremap) X(mapped_bytes) X(mapped_peak)  \
  X(purged_bytes) X(segments) X(segments_peak) X(segments_abandoned)                 \
  X(segments_reclaimed) X(pages_fresh) X(blocks_carved) X(malloc_generic)            \
  X(large_allocs) X(large_cache_hits) X(heaps_created) X(heaps_live) X(invalid_frees)     \
  X(units_detached) X(units_reattached) X(purged_page_bytes) X(purged_unit_bytes)          \
  X(purged_segment_bytes) X(expired_segments) X(expired_large) X(cache_regrets)
typedef struct hak_stats_atomic_s {
#define HAK_STAT_DECL(name) _Atomic(uint64_t) name;
  HAK_STAT_FIELDS(HAK_STAT_DECL)
#undef HAK_STAT_DECL
} hak_stats_atomic_t;
extern hak_stats_atomic_t hak_stats hak_internal;
#if HAK_OBSERVE
extern _Atomic(uint64_t) hak_obs_free_remote_heapless hak_internal; /* by threads without a heap */
#endif
#define hak_stat_add(field, n) atomic_fetch_add_explicit(&hak_stats.field, (uint64_t)(n), memory_order_relaxed)
#define hak_stat_sub(field, n) atomic_fetch_sub_explicit(&hak_stats.field, (uint64_t)(n), memory_order_relaxed)
void hak_stat_add_peak(_Atomic(uint64_t) *cur, _Atomic(uint64_t) *peak, uint64_t n) hak_internal;
void hak_stats_merge_heap(hak_heap_stats_t *s) hak_internal;
void hak_stats_init(void) hak_internal;
void hak_stats_at_exit(void) hak_internal;
/* A census of memory by size class, taken from page state (stats.c asks
 * heap.c, segment.c, large.c). */
typedef struct hak_census_s {
  uint64_t live, committed;
  uint64_t blocks[HAK_CLASS_COUNT], pages[HAK_CLASS_COUNT], class_committed[HAK_CLASS_COUNT];
} hak_census_t;
void hak_census_segment(hak_census_t *c, const hak_segment_t *seg) hak_internal;
void hak_heap_census(hak_census_t *c) hak_internal;
void hak_segment_census_pools(hak_census_t *c) hak_internal;
void hak_large_census(hak_census_t *c) hak_internal;
uint64_t hak_release_purged_bytes(const hak_page_t *page) hak_internal;

/* ---- os.c: the only file that calls the OS for memory -------------------- */
void hak_os_init(uintptr_t secret) hak_internal;
void *hak_os_alloc_aligned(size_t size, size_t alignment) hak_internal;
void *hak_os_alloc_aligned_at(size_t size, size_t alignment, size_t offset) hak_internal;
void hak_os_free(void *p, size_t size) hak_internal;
void hak_os_purge(void *p, size_t size) hak_internal;
void hak_os_no_thp(void *p, size_t size) hak_internal;
#if HAK_SECURE
void hak_os_guard(void *p, size_t size) hak_internal; /* PROT_NONE */
#endif
bool hak_os_resize_in_place(void *p, size_t old_size, size_t new_size) hak_internal;
void *hak_os_move_aligned(void *p, size_t old_size, size_t new_size, size_t alignment) hak_internal;
uint64_t hak_clock_ms(void) hak_internal;
void hak_write_stderr(const char *s) hak_internal;
char *hak_fmt_hex(char *buf, uintptr_t v) hak_internal; /* returns end */
char *hak_fmt_u64(char *buf, uint64_t v) hak_internal;
_Noreturn void hak_fatal(const char *msg) hak_internal;
_Noreturn void hak_fatal_at(const char *msg, const void *p) hak_internal; /* "msg 0x<p>" */
_Noreturn void hak_assert_fail(const char *expr, const char *file, int line) hak_internal;

/* ---- init.c ------------------------------------------------------------- */
extern _Atomic(int) hak_init_state hak_internal; /* 0 none, 1 running, 2 done */
extern uintptr_t hak_secret hak_internal;
void hak_init(void) hak_internal;
void hak_lock(pthread_mutex_t *m) hak_internal;

/* ---- segment.c ---------------------------------------------------------- */
/* One byte per 4 MiB of the 47-bit user address space (32 MiB of BSS,
 * touched only where segments live): HAK_SEGMAP_LIVE | page_shift where a
 * live segment starts (the free fast path finds the page without loading the
 * segment's page_shift); k in 1..127 where a block aligned to 4 MiB or more
 * starts whose segment header is k segments lower (large.c); 0 elsewhere. */
#define HAK_SEGMAP_SIZE ((size_t)1 << (47 - HAK_SEGMENT_SHIFT))
#define HAK_SEGMAP_LIVE ((uint8_t)0x80)
#define HAK_SEGMAP_SHIFT_MASK ((uint8_t)0x3f)
extern _Atomic(uint8_t) hak_segment_map[HAK_SEGMAP_SIZE] hak_internal;
hak_page_t *hak_segment_page_alloc(hak_heap_t *heap, hak_page_kind_t kind, size_t bsize) hak_internal;
void hak_segment_page_free(hak_heap_t *heap, hak_page_t *page) hak_internal;
hak_segment_t *hak_segment_map_alloc(size_t size, hak_page_kind_t kind, size_t alignment, size_t align_offset) hak_internal;
void hak_segment_unmap(hak_segment_t *seg) hak_internal;
void hak_segment_map_mark(const void *region, uint8_t value) hak_internal;
void hak_segment_map_set_live(const hak_segment_t *seg) hak_internal;
hak_segment_t *hak_segment_lookup(const void *p) hak_internal;
void hak_segment_abandon_all(hak_heap_t *heap) hak_internal;
bool hak_segment_reclaim_for_free(hak_heap_t *heap, hak_segment_t *seg) hak_internal;
uint64_t hak_segment_purge_due(hak_heap_t *heap, uint64_t now, bool force) hak_internal;
bool hak_segment_cache_decay(uint64_t now, bool force) hak_internal;
void hak_segment_collect_abandoned(hak_heap_t *heap) hak_internal;
bool hak_segment_is_valid(const hak_segment_t *seg) hak_internal;
void hak_segment_atfork_prepare(void) hak_internal;
void hak_segment_atfork_parent(void) hak_internal;
void hak_segment_atfork_child(void) hak_internal;

/* ---- page.c ------------------------------------------------------------- */
void *hak_malloc_generic(hak_heap_t *heap, size_t size, bool zero) hak_internal;
void hak_page_init(hak_page_t *page, size_t class_idx, uint8_t *start, size_t area) hak_internal;
size_t hak_page_collect(hak_heap_t *heap, hak_page_t *page) hak_internal;
void hak_page_retire(hak_heap_t *heap, hak_page_t *page) hak_internal;
void hak_page_unfull(hak_heap_t *heap, hak_page_t *page) hak_internal;
void hak_page_reclaim(hak_heap_t *heap, hak_page_t *page) hak_internal;
void hak_page_process_xpages(hak_heap_t *heap) hak_internal;
uintptr_t hak_page_wait_pushed(hak_page_t *page) hak_internal;
void hak_page_set_xstate(hak_page_t *page, uintptr_t from, uintptr_t to) hak_internal;
void hak_page_atfork_child(hak_heap_t *heap) hak_internal;
void hak_queue_remove(hak_heap_t *heap, size_t qidx, hak_page_t *page) hak_internal;
void hak_queue_push_back(hak_heap_t *heap, size_t qidx, hak_page_t *page) hak_internal;
size_t hak_class_block_size(size_t class_idx) hak_internal;
bool hak_page_is_valid(const hak_page_t *page) hak_internal;

/* ---- release.c: when free memory goes back to the OS ---------------------- */
void hak_release_lock(hak_heap_t *heap) hak_internal;
void hak_release_unlock(hak_heap_t *heap) hak_internal;
void hak_release_thinned(hak_heap_t *heap, hak_page_t *page, bool detach) hak_internal;
void hak_release_page_full(hak_page_t *page) hak_internal;
bool hak_release_reattach(hak_heap_t *heap, hak_page_t *page) hak_internal;
uint32_t hak_release_detached_blocks(const hak_page_t *page) hak_internal;
void hak_release_forget_segment(hak_heap_t *heap, hak_segment_t *seg) hak_internal;
void hak_release_pass(hak_heap_t *heap, bool force) hak_internal;
void hak_release_tick(hak_heap_t *heap) hak_internal;
void hak_release_schedule(hak_heap_t *heap, uint64_t now) hak_internal;
void hak_release_wake(void) hak_internal;
typedef enum { HAK_CACHE_SEGMENTS, HAK_CACHE_LARGE } hak_cache_kind_t;
long hak_release_cache_delay(uint64_t now) hak_internal;
void hak_release_cache_expired(hak_cache_kind_t kind, uint64_t now) hak_internal;
void hak_release_cache_missed(hak_cache_kind_t kind) hak_internal;
bool hak_release_emergency(void) hak_internal;
void hak_release_atfork_prepare(void) hak_internal;
void hak_release_atfork_parent(void) hak_internal;
void hak_release_atfork_child(void) hak_internal;

/* ---- heap.c ------------------------------------------------------------- */
extern hak_tls hak_heap_t *hak_heap_tls hak_internal;
/* Set once the thread's heap was released at exit (heap.c), and in the purge
 * thread: frees by such a thread without a heap (later TLS destructors,
 * glibc's own teardown) do not adopt segments, which would make it a heap
 * that nothing releases. */
extern hak_tls bool hak_heap_released hak_internal;
extern hak_heap_t hak_heap_empty hak_internal;
extern hak_page_t hak_page_empty hak_internal;
hak_heap_t *hak_heap_init_thread(void) hak_internal;
void hak_heap_key_create(void) hak_internal;
void hak_heap_thread_done(void *heap) hak_internal;
void hak_heap_collect(hak_heap_t *heap) hak_internal;
hak_heap_t *hak_heap_all(void) hak_internal;
void hak_heap_release_current(void) hak_internal;
void hak_heap_atfork_prepare(void) hak_internal;
void hak_heap_atfork_parent(void) hak_internal;
void hak_heap_atfork_child(void) hak_internal;

/* ---- large.c: blocks above HAK_LARGE_MAX ---------------------------------- */
void *hak_large_alloc(size_t size, size_t alignment, bool zero) hak_internal;
void hak_large_free(hak_segment_t *seg) hak_internal;
void hak_large_free_checked(hak_segment_t *seg, void *p, const char *fn) hak_internal;
bool hak_large_is_live(const hak_segment_t *seg, const void *p) hak_internal;
void *hak_large_realloc(hak_segment_t *seg, void *p, size_t size) hak_internal;
size_t hak_large_usable(const hak_segment_t *seg, const void *p) hak_internal;
bool hak_large_cache_decay(uint64_t now, bool force) hak_internal;
void hak_large_atfork_prepare(void) hak_internal;
void hak_large_atfork_parent(void) hak_internal;
void hak_large_atfork_child(void) hak_internal;

/* ---- free.c ------------------------------------------------------------- */
void hak_free_generic(hak_segment_t *seg, hak_page_t *page, void *p, const char *fn) hak_internal;
void hak_invalid_pointer(const char *fn, const void *p) hak_internal;
void hak_double_free(const char *fn, const void *p) hak_internal;
void hak_wrong_size(const char *fn, const void *p) hak_internal; /* free_sized: secure mode */
void hak_free_unmapped(void *p, const char *fn) hak_internal;
size_t hak_usable_size_checked(const void *p, const char *fn) hak_internal;

void hak_free_remote_chain(hak_segment_t *seg, hak_page_t *page, hak_block_t *first, hak_block_t *last) hak_internal;

/* ---- xcache.c: batched remote frees (HAK_XCACHE, off by default) ------------- */
void hak_xcache_put(hak_heap_t *heap, hak_segment_t *seg, hak_page_t *page, hak_block_t *block, const char *fn) hak_internal;
void hak_xcache_flush(hak_heap_t *heap) hak_internal;
#if HAK_XCACHE
#define HAK_XCACHE_FLUSH(heap) hak_xcache_flush(heap)
#else
#define HAK_XCACHE_FLUSH(heap) ((void)0)
#endif

/* ---- alloc.c ------------------------------------------------------------ */
void *hak_malloc_aligned_impl(size_t alignment, size_t size, bool zero) hak_internal;

/* ---------------------------------------------------------------------------
 * Inline helpers
 * ------------------------------------------------------------------------- */
static inline size_t hak_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
static inline bool hak_is_pow2(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

/* Size class of a request; only for size <= HAK_LARGE_MAX (types.h). Sizes
 * up to 1 KiB never get here on the malloc fast path (pages_small). */
static inline size_t hak_size_class(size_t size) {
  if (hak_likely(size <= 128)) {
    size_t c = (size + 15) >> 4;
    return c + (c == 0);
  }
  size_t w = size - 1;
  unsigned b = 63u - (unsigned)__builtin_clzl(w); /* size is in (2^b, 2^(b+1)] */
  if (b < 10) return 9 + ((size_t)b - 7) * 4 + ((w >> (b - 2)) & 3);
  if (b >= 16) return 93 + ((size_t)b - 16) * 4 + ((w >> (b - 2)) & 3);
  size_t r = w - ((size_t)1 << b), base = 21 + ((size_t)b - 10) * 12;
  if (r < ((size_t)1 << (b - 4))) return base + (r >> (b - 6)); /* P + P/64 .. P + P/16 */
  return base + 4 + (r >> (b - 3));                              /* P + P/8 .. 2P */
}

/* the class of a 1 KiB request: the last one pages_small serves */
#define HAK_SMALL_DIRECT_CLASS_MAX 20

static inline hak_page_kind_t hak_class_kind(size_t block_size) {
  return block_size <= HAK_SMALL_MAX ? HAK_PAGE_SMALL
       : block_size <= HAK_MEDIUM_MAX ? HAK_PAGE_MEDIUM : HAK_PAGE_LARGE;
}

static inline hak_segment_t *hak_ptr_segment(const void *p) {
  return (hak_segment_t *)((uintptr_t)p & ~HAK_SEGMENT_MASK);
}

/* The segment map byte of p: HAK_SEGMAP_LIVE | page_shift if p is inside
 * the first 4 MiB of a live hakmem segment, else a value without
 * HAK_SEGMAP_LIVE (far-aligned large blocks too: hak_segment_lookup finds
 * those). Never touches p. */
static inline uint8_t hak_segment_map_at(const void *p) {
  uintptr_t i = (uintptr_t)p >> HAK_SEGMENT_SHIFT;
  return i < HAK_SEGMAP_SIZE ? atomic_load_explicit(&hak_segment_map[i], memory_order_relaxed) : 0;
}

/* The page descriptor of p in its segment, by the segment's page shift
 * (as read from the map: the & is free, x86 shifts use the count mod 64). */
static inline hak_page_t *hak_page_at(const hak_segment_t *seg, const void *p, unsigned page_shift) {
  size_t idx = ((uintptr_t)p & HAK_SEGMENT_MASK) >> (page_shift & HAK_SEGMAP_SHIFT_MASK);
  return (hak_page_t *)seg + idx;
}

static inline hak_page_t *hak_segment_page_of(const hak_segment_t *seg, const void *p) {
  return hak_page_at(seg, p, seg->page_shift);
}

/* The page of a pointer into a large segment's span may be an interior
 * slice: the span's first descriptor holds the page (slow paths only; a
 * block start is always in the first slice). */
static inline hak_page_t *hak_page_of_block(hak_page_t *page) { return page - page->span_back; }

/* The reciprocal of a block size (types.h: block_divisor). Unlike
 * UINT64_MAX / bsize + 1 it is never exactly 2^64 / bsize, so that
 * block_divisor * block_size mod 2^64 (the step of block_limit) is never 0. */
static inline uint64_t hak_block_divisor(size_t bsize) {
  return (uint64_t)(((unsigned __int128)1 << 64) / bsize) + 1;
}

/* Bytes of blocks carved so far. */
static inline size_t hak_page_carved(const hak_page_t *page) { return (size_t)page->capacity * page->block_size; }

/* Does p start a block the page has carved (as opposed to pointing inside
 * one, before the first, or past the last carved one)? One multiply and one
 * compare, exact for every p in the page's 4 MiB segment: with
 * D = block_divisor, bs = block_size, c = D * bs - 2^64 (0 < c <= bs) and
 * off = p - start = i * bs + e (0 <= e < bs), off * D = i * 2^64 + i * c
 * + e * D, so off * D mod 2^64 is i * c if e == 0 (i < capacity iff it is
 * below block_limit = capacity * c <= 2^22), and at least D - (i + 1) * c
 * > 2^40 otherwise (D >= 2^64 / 2^19, (i + 1) * c <= 2^23); an address below
 * start wraps (off = 2^64 - d, d < 2^22) to at least D - 2^23 as well. A page
 * not in use has block_limit 0. */
static inline bool hak_page_is_block_start(const hak_page_t *page, const void *p) {
  uint64_t off = (uint64_t)((const uint8_t *)p - page->start);
  return off * page->block_divisor < page->block_limit;
}

/* Is a remote thread's notification of this page under way (see types.h)?
 * Then the page must not be given back to its segment. */
static inline bool hak_page_is_pinned(const hak_page_t *page) {
  uintptr_t state = atomic_load_explicit(&((hak_page_t *)page)->xthread_free, memory_order_relaxed) & HAK_XFREE_STATE;
  return state >= HAK_XFREE_PUSHING;
}

/* Blocks handed out or freed by other threads and not yet collected. */
static inline uint32_t hak_page_in_use(const hak_page_t *page) { return page->used + page->mark - page->bias; }

/* `used` counts from the thin mark m (types.h). */
static inline void hak_page_set_mark(hak_page_t *page, uint32_t m) {
  page->used = page->used + page->mark - m;
  page->mark = m;
}

static inline hak_heap_t *hak_segment_owner(const hak_segment_t *seg) {
  return atomic_load_explicit(&((hak_segment_t *)seg)->owner, memory_order_relaxed);
}

/* Is the segment in the abandoned pool? A peek without the pool lock (the
 * flag changes under it): hak_segment_reclaim_for_free checks again under
 * the lock, and a stale 0 only makes a free remote. */
static inline bool hak_segment_abandoned_peek(const hak_segment_t *seg) { return seg->abandoned != 0; }

void hak_heap_set_small_direct(hak_heap_t *heap, size_t class_idx, hak_page_t *page) hak_internal;

extern bool hak_prof_on hak_internal; /* HAKMEM_PROF: set once at start-up (prof.c) */

static inline void hak_heap_queue_set_direct(hak_heap_t *heap, size_t qidx) {
  if (hak_unlikely(hak_prof_on)) return; /* the profiler's windows stand in for the pages (prof.h) */
  if (qidx < HAK_CLASS_COUNT) {
    hak_page_t *first = heap->queues[qidx].first;
    if (first == NULL) first = &hak_page_empty;
    if (heap->pages_direct[qidx] == first) return;
    heap->pages_direct[qidx] = first;
    if (qidx <= HAK_SMALL_DIRECT_CLASS_MAX) hak_heap_set_small_direct(heap, qidx, first);
  }
}


#include "secure.h" /* free-list links; secure mode's checks (make secure) */

/* ---------------------------------------------------------------------------
 * The fast paths, inlined into every entry point (alloc.c, free.c, override.c)
 * ------------------------------------------------------------------------- */

/* Take block b (page->free) off the page; zero its first size bytes if asked
 * (only the link word when the free list is known to be fresh memory). */
static inline void *hak_page_pop(hak_page_t *page, hak_block_t *b, size_t size, bool zero) {
#if HAK_SECURE
  page->free = hak_secure_pop_next(page, b);
#else
  page->free = b->next;
#endif
  page->used++;
  if (zero) {
    if (page->free_is_zero) b->next = NULL;
    else memset(b, 0, size);
  }
  return b;
}

/* malloc: pop the first free block of the class's current page. */
static inline void *hak_heap_malloc(hak_heap_t *heap, size_t size, bool zero) {
  hak_page_t *page;
  if (hak_likely(size <= HAK_SMALL_DIRECT_MAX)) page = heap->pages_small[(size + 15) >> 4];
  else if (hak_likely(size <= HAK_LARGE_MAX)) page = heap->pages_direct[hak_size_class(size)];
  else page = &hak_page_empty; /* its free list is always empty */
  hak_block_t *b = page->free;
  if (hak_likely(b != NULL)) {
    HAK_OBSERVE_INC(heap->stats.obs_malloc_fast);
    HAK_OBSERVE_INC(heap->stats.obs_malloc[page->class_idx]);
    return hak_page_pop(page, b, size, zero);
  }
  return hak_malloc_generic(heap, size, zero);
}

/* A block of a page the calling thread owns goes back on the page's free list
 * (the next block malloc hands out). A block that is already the head of that
 * list is being freed twice: refused (one compare; the secure build catches
 * the rest, secure.h). */
static inline void hak_page_free_local(hak_heap_t *heap, hak_page_t *page, hak_block_t *b, const char *fn) {
  if (hak_unlikely(b == page->free)) {
    hak_double_free(fn, b);
    return;
  }
#if HAK_SECURE
  if (hak_unlikely(hak_secure_is_free(page, b))) {
    hak_double_free(fn, b);
    return;
  }
#endif
  hak_link_set(b, page->free);
  page->free = b;
  page->free_is_zero = 0;
  if (hak_unlikely(--page->used == 0)) hak_page_retire(heap, page); /* empty, thinned out, or was full */
}

/* free: a block of a page this thread owns goes back on the page's free list;
 * everything else (NULL, foreign pointers, other threads' blocks, aligned
 * interior pointers, large blocks, full or emptied pages) is out of line. */
static inline void hak_free_inline(void *p, const char *fn) {
  uint8_t m = hak_segment_map_at(p);
  if (hak_unlikely(!(m & HAK_SEGMAP_LIVE))) {
    hak_free_unmapped(p, fn);
    return;
  }
  hak_segment_t *seg = hak_ptr_segment(p);
  hak_page_t *page = hak_page_at(seg, p, m);
  if (hak_likely(hak_segment_owner(seg) == hak_heap_tls && hak_page_is_block_start(page, p))) {
    HAK_OBSERVE_INC(hak_heap_tls->stats.obs_free_fast);
    HAK_OBSERVE_INC(hak_heap_tls->stats.obs_free[page->class_idx]);
    hak_page_free_local(hak_heap_tls, page, (hak_block_t *)p, fn);
    return;
  }
  hak_free_generic(seg, page, p, fn);
}

#endif /* HAK_INTERNAL_H */
