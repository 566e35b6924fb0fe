/* large.c — blocks above HAK_LARGE_MAX: each gets a segment of its own
 * (a "huge" segment: the header, then the block, in one aligned mapping),
 * so free() finds it by the same mask as every other block.
 *
 * Freed mappings go to a small process-wide reuse cache (bounded in bytes by
 * the profile) instead of straight back to the OS; realloc grows and shrinks
 * them with mremap, in place when the address space allows, else by moving
 * the pages (never copying the contents). */
#include <errno.h>

#include "internal.h"
#include "prof.h"

#define LARGE_CACHE_SLOTS 64

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
/* live blocks: usable bytes and mapped bytes (census) */
static _Atomic(uint64_t) large_live_bytes, large_live_mapped;

static void live_account(const hak_segment_t *seg, bool add) {
  if (add) {
    atomic_fetch_add_explicit(&large_live_bytes, seg->pages[0].block_size, memory_order_relaxed);
    atomic_fetch_add_explicit(&large_live_mapped, seg->size, memory_order_relaxed);
  } else {
    atomic_fetch_sub_explicit(&large_live_bytes, seg->pages[0].block_size, memory_order_relaxed);
    atomic_fetch_sub_explicit(&large_live_mapped, seg->size, memory_order_relaxed);
  }
}

static hak_segment_t *large_cache[LARGE_CACHE_SLOTS];
static uint64_t large_cache_since[LARGE_CACHE_SLOTS]; /* insertion time (ms): evict the oldest */
static size_t large_cache_bytes;
#define SAMPLE_STEP ((size_t)64 << 10)
#define SAMPLE_BUCKETS 9 /* mappings of 64 KiB .. 576 KiB: any block up to HAK_LARGE_MAX */
#define SAMPLE_POOL_BYTES ((size_t)4 << 20)
static hak_segment_t *sample_pool[SAMPLE_BUCKETS]; /* by size / SAMPLE_STEP - 1, linked by next */
static size_t sample_pool_bytes;

void hak_large_census(hak_census_t *c) {
  c->live += atomic_load_explicit(&large_live_bytes, memory_order_relaxed);
  hak_lock(&large_lock);
  c->committed += atomic_load_explicit(&large_live_mapped, memory_order_relaxed) + large_cache_bytes + sample_pool_bytes;
  pthread_mutex_unlock(&large_lock);
}

/* Mapping sizes are rounded up to eighths of a power of two (at most 12.5%
 * more address space, never touched unless used), so that freed mappings of
 * nearby sizes serve each other from the cache. */
static size_t mapping_size(size_t need) {
  size_t step = (size_t)64 << 10;
  if (need > ((size_t)1 << 20)) {
    unsigned b = 63u - (unsigned)__builtin_clzl(need - 1);
    step = (size_t)1 << (b - 3);
  }
  return hak_align_up(need, step);
}

/* Offset of the block in its segment for an alignment. Up to 2 MiB the block
 * starts within the segment's first 4 MiB, where masking finds the header.
 * For 4 MiB and more ("far" blocks) it starts 4 MiB in, at an address the
 * mapping is aligned for, and the segment map marks that 4 MiB region as
 * "header one segment lower". */
static size_t block_offset(size_t alignment) {
  if (alignment >= HAK_SEGMENT_SIZE) return HAK_SEGMENT_SIZE;
  return hak_align_up(HAK_SEGMENT_HEADER_SIZE, alignment);
}

static bool is_far(const hak_segment_t *seg) {
  return seg->huge_block >= (const uint8_t *)seg + HAK_SEGMENT_SIZE;
}

static void set_block(hak_segment_t *seg, uint8_t *block) {
  hak_page_t *page = &seg->pages[0];
  seg->huge_block = block;
  page->start = block;
  page->block_size = seg->size - (size_t)(block - (uint8_t *)seg);
  page->block_divisor = hak_block_divisor(page->block_size);
  page->block_limit = 0; /* never freed by the fast path */
  page->has_aligned = 0;
}

/* Resize a cached (or otherwise unused) mapping to new_size bytes: in place
 * if the address space allows, else by moving its pages (never copying).
 * Shrinking gives the tail back to the OS. Returns the mapping (perhaps
 * moved) or NULL if the OS refused (then seg is unchanged). */
static hak_segment_t *mapping_resize(hak_segment_t *seg, size_t new_size) {
  if (new_size == seg->size) return seg;
  if (hak_os_resize_in_place(seg, seg->size, new_size)) {
    seg->size = new_size;
    return seg;
  }
  hak_segment_map_mark(seg, 0);
  hak_segment_t *moved = hak_os_move_aligned(seg, seg->size, new_size, HAK_SEGMENT_SIZE);
  if (moved == NULL) {
    hak_segment_map_set_live(seg);
    return NULL;
  }
  moved->size = new_size;
  moved->cookie = (uintptr_t)moved ^ hak_secret;
  hak_segment_map_set_live(moved);
  return moved;
}

/* A cached mapping for `need` bytes: the smallest that fits without wasting
 * more than half of it; else the largest one grown, if it has at least 3/4
 * of what is needed (its pages are resident already: only the rest faults
 * in). Otherwise the caller maps fresh memory; what the cache keeps decays. */
static hak_segment_t *cache_take(size_t need) {
  if (large_cache_bytes == 0) return NULL; /* racy peek */
  hak_segment_t *best = NULL, *largest = NULL;
  int best_i = -1, largest_i = -1;
  hak_lock(&large_lock);
  for (int i = 0; i < LARGE_CACHE_SLOTS; i++) {
    hak_segment_t *s = large_cache[i];
    if (s == NULL) continue;
    if (s->size >= need && s->size / 2 <= need && (best == NULL || s->size < best->size)) { best = s; best_i = i; }
    if (largest == NULL || s->size > largest->size) { largest = s; largest_i = i; }
  }
  /* nothing fits: grow the largest if most of it will be used */
  if (best == NULL && largest != NULL && largest->size < need && largest->size >= need / 4 * 3) {
    best = largest;
    best_i = largest_i;
  }
  if (best) {
    large_cache[best_i] = NULL;
    large_cache_bytes -= best->size;
  }
  pthread_mutex_unlock(&large_lock);
  if (best == NULL) return NULL;
  size_t want = mapping_size(need);
  if (best->size >= need) return best; /* fits, wastes at most half */
  hak_segment_t *r = mapping_resize(best, want);
  if (r == NULL) { /* keep it out of the cache: give it back */
    hak_segment_unmap(best);
    return NULL;
  }
  return r;
}

void *hak_large_alloc(size_t size, size_t alignment, bool zero) {
  if (alignment < HAK_MIN_ALIGN) alignment = HAK_MIN_ALIGN;
  if (size == 0) size = 1;
  size_t off = block_offset(alignment);
  if (size > PTRDIFF_MAX || alignment > PTRDIFF_MAX || size > SIZE_MAX - off - alignment - HAK_SEGMENT_SIZE) {
    errno = ENOMEM;
    return NULL;
  }
  size_t need = hak_align_up(off + size, HAK_OS_PAGE_SIZE);
  hak_segment_t *seg = NULL;
  if (alignment <= HAK_SEGMENT_HEADER_SIZE) seg = cache_take(need);
  bool fresh = seg == NULL;
  if (fresh) {
    if (alignment <= HAK_SEGMENT_HEADER_SIZE) hak_release_cache_missed(HAK_CACHE_LARGE);
    seg = hak_segment_map_alloc(mapping_size(need), HAK_PAGE_HUGE, alignment, off == HAK_SEGMENT_SIZE ? off : 0);
    if (seg == NULL && hak_release_emergency())
      seg = hak_segment_map_alloc(mapping_size(need), HAK_PAGE_HUGE, alignment, off == HAK_SEGMENT_SIZE ? off : 0);
    if (seg == NULL) { errno = ENOMEM; return NULL; }
  } else {
    hak_stat_add(large_cache_hits, 1);
  }
  hak_stat_add(large_allocs, 1);
  seg->pages[0].in_use = 1;
  seg->pages[0].used = 1;
  set_block(seg, (uint8_t *)seg + off);
  live_account(seg, true);
  if (is_far(seg)) hak_segment_map_mark(seg->huge_block, 1); /* its header: one segment lower */
  if (zero && !fresh) memset(seg->huge_block, 0, size);
  return seg->huge_block;
}

/* ---- the heap profiler's sampled blocks (prof.c) ----------------------------
 * A sampled block has a huge segment of its own, so that its free comes here
 * (prof.h). At the default interval a program allocating blocks of tens of
 * KiB takes a sample every few dozen allocations: the freed mappings go to a
 * small pool of their own, by size (64 KiB steps), instead of the shared
 * cache, whose slot scans would cost more than the rest of a sample and
 * whose room belongs to the program's big buffers. The pool is bounded in
 * bytes and emptied by hak_collect. Under large_lock. */

void *hak_large_alloc_sample(size_t size, bool zero) {
  size_t need = hak_align_up(HAK_SEGMENT_HEADER_SIZE + (size ? size : 1), HAK_OS_PAGE_SIZE);
  size_t b = mapping_size(need) / SAMPLE_STEP - 1;
  hak_segment_t *seg = NULL;
  if (b < SAMPLE_BUCKETS && __atomic_load_n(&sample_pool[b], __ATOMIC_RELAXED) != NULL) { /* a peek */
    hak_lock(&large_lock);
    seg = sample_pool[b];
    if (seg != NULL) {
      __atomic_store_n(&sample_pool[b], seg->next, __ATOMIC_RELAXED);
      sample_pool_bytes -= seg->size;
    }
    pthread_mutex_unlock(&large_lock);
  }
  if (seg == NULL) return hak_large_alloc(size, 0, zero);
  hak_stat_add(large_allocs, 1);
  seg->pages[0].in_use = 1;
  seg->pages[0].used = 1;
  set_block(seg, (uint8_t *)seg + HAK_SEGMENT_HEADER_SIZE);
  live_account(seg, true);
  if (zero) memset(seg->huge_block, 0, size);
  return seg->huge_block;
}

/* A sampled block was freed (in_use already 0): keep its mapping in the
 * pool if it is one the pool serves and there is room. */
static bool sample_pool_put(hak_segment_t *seg) {
  size_t b = seg->size / SAMPLE_STEP - 1;
  if (seg->size % SAMPLE_STEP != 0 || b >= SAMPLE_BUCKETS || is_far(seg) ||
      seg->huge_block != (uint8_t *)seg + HAK_SEGMENT_HEADER_SIZE)
    return false;
  bool kept = false;
  hak_lock(&large_lock);
  if (sample_pool_bytes + seg->size <= SAMPLE_POOL_BYTES) {
    live_account(seg, false);
    seg->next = sample_pool[b];
    __atomic_store_n(&sample_pool[b], seg, __ATOMIC_RELAXED); /* peeked at without the lock */
    sample_pool_bytes += seg->size;
    kept = true;
  }
  pthread_mutex_unlock(&large_lock);
  return kept;
}

/* Entries unused for the decay time go back to the OS (lock held). */
static hak_segment_t *cache_expire(uint64_t now, bool force, hak_segment_t *evict) {
  long delay = hak_release_cache_delay(now);
  if (delay < 0 && !force) return evict;
  for (int i = 0; i < LARGE_CACHE_SLOTS; i++) {
    hak_segment_t *s = large_cache[i];
    if (s && (force || large_cache_since[i] + (uint64_t)delay <= now)) {
      if (!force) hak_release_cache_expired(HAK_CACHE_LARGE, now);
      large_cache[i] = NULL;
      large_cache_bytes -= s->size;
      s->next = evict;
      evict = s;
    }
  }
  return evict;
}

static void unmap_list(hak_segment_t *list) {
  while (list) {
    hak_segment_t *next = list->next;
    hak_segment_unmap(list);
    list = next;
  }
}

/* The purge thread and hak_collect: expire the cache; true if entries are left. */
bool hak_large_cache_decay(uint64_t now, bool force) {
  hak_lock(&large_lock); /* no racy peek: the purge thread's exit check relies on seeing new entries */
  hak_segment_t *evict = cache_expire(now, force, NULL);
  for (size_t b = 0; force && b < SAMPLE_BUCKETS; b++) { /* hak_collect: the profiler's pool too */
    while (sample_pool[b] != NULL) {
      hak_segment_t *s = sample_pool[b];
      __atomic_store_n(&sample_pool[b], s->next, __ATOMIC_RELAXED);
      sample_pool_bytes -= s->size;
      s->next = evict;
      evict = s;
    }
  }
  bool left = large_cache_bytes != 0;
  pthread_mutex_unlock(&large_lock);
  if (!force)
    for (hak_segment_t *s = evict; s != NULL; s = s->next) hak_stat_add(expired_large, 1);
  unmap_list(evict);
  return left;
}

/* Is p the block of this huge segment, handed out and not freed since? */
bool hak_large_is_live(const hak_segment_t *seg, const void *p) {
  return p == seg->huge_block && __atomic_load_n(&seg->pages[0].in_use, __ATOMIC_RELAXED);
}

/* free() of a pointer into a huge segment. A freed block stays recognisable
 * while its mapping sits in the reuse cache (in_use == 0): freeing it again is
 * a double free, refused like any invalid pointer. The exchange makes two
 * threads freeing the same block at once see one free and one double free. */
/* Profiling: a sampled block is huge, and an aligned allocation may hand out
 * a pointer inside it (alloc.c then marks the page has_aligned; nothing else
 * does that to a huge page). The start of the block p is in, or p. */
static void *large_block_of(const hak_segment_t *seg, void *p) {
  if (seg->pages[0].has_aligned && (uint8_t *)p > seg->huge_block &&
      (uint8_t *)p < seg->huge_block + seg->pages[0].block_size)
    return seg->huge_block;
  return p;
}

bool hak_large_owns(const hak_segment_t *seg, const void *p) {
  return hak_large_is_live(seg, large_block_of(seg, (void *)p));
}

void hak_large_free_checked(hak_segment_t *seg, void *p, const char *fn) {
  p = large_block_of(seg, p);
  if (p != seg->huge_block) {
    hak_invalid_pointer(fn, p);
    return;
  }
  if (!__atomic_exchange_n(&seg->pages[0].in_use, 0, __ATOMIC_ACQ_REL)) {
    hak_double_free(fn, p);
    return;
  }
  if (hak_unlikely(hak_prof_on) && hak_prof_free(p) && sample_pool_put(seg)) return;
  hak_large_free(seg);
}

void hak_large_free(hak_segment_t *seg) {
  size_t limit = HAK_POLICY(large_cache_bytes);
  seg->pages[0].in_use = 0;
  live_account(seg, false);
  hak_segment_t *evict = NULL;
  if (seg->size <= limit && !is_far(seg)) {
    uint64_t now = hak_clock_ms();
    hak_lock(&large_lock);
    evict = cache_expire(now, false, evict);
    int slot = -1;
    for (int i = 0; i < LARGE_CACHE_SLOTS && slot < 0; i++) if (large_cache[i] == NULL) slot = i;
    /* make room (in bytes or slots): evict the oldest entries */
    while (slot < 0 || large_cache_bytes + seg->size > limit) {
      int old = -1;
      for (int i = 0; i < LARGE_CACHE_SLOTS; i++)
        if (large_cache[i] && (old < 0 || large_cache_since[i] < large_cache_since[old])) old = i;
      if (old < 0) break;
      hak_segment_t *victim = large_cache[old];
      large_cache[old] = NULL;
      large_cache_bytes -= victim->size;
      victim->next = evict;
      evict = victim;
      slot = old;
    }
    if (slot >= 0 && large_cache_bytes + seg->size <= limit) {
      large_cache[slot] = seg;
      large_cache_since[slot] = now;
      large_cache_bytes += seg->size;
      seg->is_zero = 0;
      seg = NULL;
    }
    pthread_mutex_unlock(&large_lock);
    if (seg == NULL) hak_release_schedule(NULL, now); /* the cache decays */
  }
  unmap_list(evict);
  if (seg) hak_segment_unmap(seg);
}

size_t hak_large_usable(const hak_segment_t *seg, const void *p) {
  const uint8_t *end = seg->huge_block + seg->pages[0].block_size;
  if ((const uint8_t *)p < seg->huge_block || (const uint8_t *)p >= end || !seg->pages[0].in_use) {
    hak_invalid_pointer("malloc_usable_size", p);
    return 0;
  }
  return (size_t)(end - (const uint8_t *)p);
}

/* Resize a large block (p == its start) to size > HAK_LARGE_MAX; NULL if the
 * OS refused (the block is then unchanged). */
void *hak_large_realloc(hak_segment_t *seg, void *p, size_t size) {
  size_t off = (size_t)((uint8_t *)p - (uint8_t *)seg);
  if (size > PTRDIFF_MAX || size > SIZE_MAX - off - HAK_SEGMENT_SIZE || is_far(seg)) return NULL;
  size_t usable = seg->pages[0].block_size;
  if (size <= usable && size >= usable / 2) return p;
  if (size > usable) {
    /* A cached mapping that fits is already resident: copying into it is
     * cheaper than faulting in the fresh pages an mremap growth brings. */
    size_t need = hak_align_up(HAK_SEGMENT_HEADER_SIZE + size, HAK_OS_PAGE_SIZE);
    hak_segment_t *cached = cache_take(need);
    if (cached != NULL) {
      hak_stat_add(large_cache_hits, 1);
      cached->pages[0].in_use = 1;
      cached->pages[0].used = 1;
      set_block(cached, (uint8_t *)cached + HAK_SEGMENT_HEADER_SIZE);
      live_account(cached, true);
      memcpy(cached->huge_block, p, usable);
      hak_large_free(seg);
      return cached->huge_block;
    }
  }
  /* grow by at least 1/8 to make repeated small growth cheap */
  size_t want = size > usable ? size + size / 8 : size;
  size_t new_size = hak_align_up(off + want, HAK_OS_PAGE_SIZE);
  live_account(seg, false);
  hak_segment_t *r = mapping_resize(seg, new_size);
  if (r == NULL) {
    live_account(seg, true);
    return NULL;
  }
  set_block(r, (uint8_t *)r + off);
  live_account(r, true);
  return r->huge_block;
}

void hak_large_atfork_prepare(void) { hak_lock(&large_lock); }
void hak_large_atfork_parent(void) { pthread_mutex_unlock(&large_lock); }
void hak_large_atfork_child(void) { pthread_mutex_init(&large_lock, NULL); }
