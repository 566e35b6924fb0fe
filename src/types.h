/* hakmem private types: every structure of the allocator and its invariants.
 *
 * Layering (a malloc walks down, memory comes up):
 *
 *   malloc/free (alloc.c, free.c, override.c)
 *     -> heap    one per thread; per size class a queue of pages (heap.c)
 *     -> page    blocks of one size class: the owner's free list and a
 *                lock-free list of blocks other threads freed (page.c)
 *     -> segment 4 MiB aligned, holds pages of one page size (segment.c)
 *     -> os      mmap/munmap/madvise/mremap, nothing above calls the OS (os.c)
 *   large.c: blocks above HAK_LARGE_MAX get a segment of their own.
 *
 * Compile-time switches:
 *   HAK_DEBUG  (0/1/2): 1 = cheap internal assertions, 2 = full page/segment
 *              validation on slow paths.
 *   HAK_SECURE (0/1): 1 = secure mode, make secure (secure.h).
 *   HAK_XCACHE (0/1): batch remote frees per page (xcache.c). Off by default:
 *              it did not win on the 2-core machine it was measured on
 *              (docs/BENCHMARKS.md, "Batched remote frees").
 */
#ifndef HAK_TYPES_H
#define HAK_TYPES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hakmem.h"

#ifndef HAK_DEBUG
#define HAK_DEBUG 0
#endif
#ifndef HAK_SECURE
#define HAK_SECURE 0
#endif
#ifndef HAK_XCACHE
#define HAK_XCACHE 0
#endif
#if HAK_SECURE && HAK_XCACHE
#error "secure mode checks each remote free alone: build it without HAK_XCACHE"
#endif

/* ---------------------------------------------------------------------------
 * Sizes
 * ------------------------------------------------------------------------- */
#define HAK_SEGMENT_SHIFT 22 /* 4 MiB segments, aligned to their size */
#define HAK_SEGMENT_SIZE ((size_t)1 << HAK_SEGMENT_SHIFT)
#define HAK_SEGMENT_MASK (HAK_SEGMENT_SIZE - 1)

#define HAK_SMALL_PAGE_SHIFT 16  /* 64 KiB pages for blocks <= 4 KiB */
#define HAK_MEDIUM_PAGE_SHIFT 19 /* 512 KiB pages for blocks <= 64 KiB */
#define HAK_LARGE_PAGE_SHIFT 16 /* 64 KiB slices; a large block's page is a span of them */
#define HAK_SEGMENT_PAGES_MAX (HAK_SEGMENT_SIZE >> HAK_SMALL_PAGE_SHIFT) /* 64 */

/* Blocks above 4 KiB would leave up to 6% of a 64 KiB page as an unusable,
 * partly resident tail (a 4160-byte block: 15 per page, 3136 bytes left);
 * a 512 KiB page wastes under 0.5% for every class up to 64 KiB. */
#define HAK_SMALL_MAX ((size_t)4 << 10)
#define HAK_MEDIUM_MAX ((size_t)64 << 10)
#define HAK_LARGE_MAX ((size_t)512 << 10) /* above: a segment of its own */

/* The segment header (page array + struct) occupies the start of page 0;
 * a multiple of the OS page so page 0's blocks stay page-aligned. */
#if HAK_SECURE
/* secure mode (secure.h): + a guard page */
#define HAK_SEGMENT_HEADER_SIZE ((size_t)16 << 10)
#else
#define HAK_SEGMENT_HEADER_SIZE ((size_t)12 << 10)
#endif

#define HAK_OS_PAGE_SIZE ((size_t)4096)
#define HAK_MIN_ALIGN 16
/* Fresh blocks are carved into a page's free list this many bytes at a time,
 * so a page's memory is touched (and becomes resident) only as it is used. */
#define HAK_EXTEND_BYTES ((size_t)4096)

/* Size classes (class 0 is unused):
 *   1..8     16..128 in steps of 16;
 *   9..20    128..1 KiB: four per power of two (worst rounding 25%);
 *   21..92   1 KiB..64 KiB, where programs keep bulk data (buffers, database
 *            pages plus a header): twelve per power of two P, four fine ones
 *            just above P (P + P/64 .. P + P/16: a 4 KiB page with a header
 *            of up to 256 bytes wastes at most 64) then eight (P + P/8 ..
 *            2P: worst rounding 12.5%);
 *   93..104  64 KiB..512 KiB: four per power of two.
 * Every size is a multiple of 16. */
#define HAK_CLASS_COUNT 105
#define HAK_CLASS_FULL HAK_CLASS_COUNT /* the queue index of full pages */
#define HAK_SMALL_DIRECT_MAX 1024
#define HAK_SMALL_DIRECT_COUNT (HAK_SMALL_DIRECT_MAX / 16 + 1)

typedef enum hak_page_kind_e {
  HAK_PAGE_SMALL = 0,
  HAK_PAGE_MEDIUM = 1,
  HAK_PAGE_LARGE = 2,
  HAK_PAGE_HUGE = 3, /* one block with its own segment (large.c) */
  HAK_PAGE_KINDS = 4
} hak_page_kind_t;

/* ---------------------------------------------------------------------------
 * Blocks, pages
 * ------------------------------------------------------------------------- */
typedef struct hak_block_s {
  struct hak_block_s *next;
} hak_block_t;

typedef struct hak_heap_s hak_heap_t;
typedef struct hak_segment_s hak_segment_t;

/* The low three bits of page->xthread_free hold the page's notification
 * state (blocks are 16-byte aligned, so the rest is the list of blocks other
 * threads freed). See free.c for the protocol.
 *   ARMED    the owner parked the page in its full queue and asks the next
 *            remote free to tell it;
 *   PUSHING  a remote free consumed ARMED and is putting the page on its owner
 *            heap's xpages list (the remote thread reads the owner meanwhile);
 *   LISTED   the page is on its owner heap's xpages list;
 *   ORPHAN   the remote free found the segment without an owner (its thread
 *            exited): whoever adopts the segment takes the page in hand.
 * PUSHING, LISTED and ORPHAN pin the page: it is not given back to its
 * segment (which therefore stays alive) until the state returns to 0. */
#define HAK_XFREE_ARMED ((uintptr_t)1)
#define HAK_XFREE_PUSHING ((uintptr_t)2)
#define HAK_XFREE_LISTED ((uintptr_t)3)
#define HAK_XFREE_ORPHAN ((uintptr_t)4)
#define HAK_XFREE_STATE ((uintptr_t)7)

/* A page: blocks of one size class inside one segment.
 * Invariants (owner thread's view):
 *   - every block of the page is in exactly one of: handed out, `free`,
 *     `xthread_free`, detached (it overlaps a unit of `detached`, see
 *     release.c), or not yet carved (index >= capacity);
 *   - block_limit == capacity * (block_divisor * block_size mod 2^64): the
 *     free fast path accepts p only if (p - start) * block_divisor mod 2^64
 *     is below it, which holds exactly for the starts of the carved blocks
 *     (hak_page_is_block_start; 0 while the page is not in use);
 *   - used = in use + bias - mark (mod 2^32), where "in use" = capacity -
 *     |free| - detached blocks; blocks in xthread_free still count as in use
 *     until the owner collects them;
 *   - the free fast path leaves only when used reaches 0: with mark == 0 the
 *     page is empty (can be retired); with mark > 0 it has thinned out to
 *     the mark (release.c may detach its free memory); mark == 0 or
 *     in use + bias > mark after every slow path;
 *   - bias: a page alone in its class queue holds one phantom block in
 *     `used` (bias = 1), so freeing its last block does not leave the free
 *     fast path: the last page of a class is kept anyway, and a program that
 *     allocates and frees a few blocks in bursts would otherwise retire-check
 *     it at every burst;
 *   - in_full: the page is in the heap's full queue, with mark = in use +
 *     bias - 1 (so its first free leaves the fast path); then it is armed
 *     (state ARMED) or has remote frees, or its notification is under way;
 *   - a page whose state pins it (see HAK_XFREE_*) stays in use;
 *   - only the owning thread touches anything but xthread_free and xnext.
 * The first cache line holds what the malloc and free fast paths read. */
typedef struct hak_page_s {
  hak_block_t *free;       /* allocation pops here, frees by the owner push here */
  uint32_t used;           /* blocks not on free (+ bias) */
  uint8_t in_full;         /* in the heap's full queue */
  uint8_t has_aligned;     /* an interior pointer of an aligned allocation was handed out */
  uint8_t free_is_zero;    /* every block on `free` is zero beyond its link word */
  uint8_t class_idx;
  uint8_t *start;          /* first block */
  uint64_t block_divisor;  /* floor(2^64/block_size) + 1: off / block_size == (off * divisor) >> 64 (off < 2^23) */
  uint64_t block_limit;    /* see above: block starts below it, 0 = none */
  size_t block_size;
  uint32_t mark;           /* thin mark: `used` counts from here (see release.c) */
  uint16_t capacity;       /* blocks carved so far */
  uint16_t reserved;       /* blocks that fit */
  /* colder fields */
  uint8_t in_use;          /* given to a size class (else free in its segment) */
  uint8_t is_zero;         /* memory past `capacity` is known to be zero */
  uint8_t is_dirty;        /* free in the segment and not yet purged */
  uint8_t bias;            /* 1: alone in its class queue, and `used` counts a phantom block */
  uint8_t page_index;
  uint8_t in_pending;      /* on the heap's pending list (release.c) */
  uint8_t slices;          /* large segments: slices this page spans (its block's memory) */
  uint8_t span_back;       /* large segments: an interior slice, this many after the span's first */
  _Atomic(uintptr_t) xthread_free; /* remote frees: block list | HAK_XFREE_* state */
  struct hak_page_s *next, *prev;  /* in a heap queue */
  struct hak_page_s *xnext;        /* in the owner heap's xpages list */
  uint64_t free_since_ms;          /* free page: when it was freed; in use: when units were detached */
  uint64_t detached;               /* release units whose blocks are off the free list (release.c) */
  uint64_t purged;                 /* of those, units given back to the OS */
  struct hak_page_s *pnext;        /* in the heap's pending list */
} __attribute__((aligned(128))) hak_page_t; /* a power of two: page lookup is a shift */
_Static_assert(sizeof(hak_page_t) == 128, "hak_page_t should be 128 bytes");

typedef struct hak_page_queue_s {
  hak_page_t *first, *last;
} hak_page_queue_t;

/* ---------------------------------------------------------------------------
 * Segments
 * ------------------------------------------------------------------------- */
/* A segment: a HAK_SEGMENT_SIZE-aligned mapping whose first bytes hold this
 * header; the rest is page_count pages of (1 << page_shift) bytes (page 0 starts
 * after the header). A huge segment is larger than HAK_SEGMENT_SIZE and holds a
 * single block; the block always starts within the first HAK_SEGMENT_SIZE bytes,
 * so masking any pointer handed out by hakmem finds its segment.
 * Invariants:
 *   - the segment map has the bit of a segment's first 4 MiB set iff the
 *     segment is live (owned, abandoned or cached);
 *   - owner is the heap that may allocate from it, NULL while abandoned
 *     (in the shared pool) or cached; all its pages belong to that heap;
 *   - used_pages counts pages with in_use set; free_mask has bit i set iff
 *     page i is not in use. */
struct hak_segment_s {
  /* first, so that page i is at segment + i * sizeof(hak_page_t) */
  hak_page_t pages[HAK_SEGMENT_PAGES_MAX];
  _Atomic(hak_heap_t *) owner;
  uint8_t page_shift;
  uint8_t kind; /* hak_page_kind_t */
  uint8_t is_zero; /* fresh from the OS: everything past the header is zero */
  uint8_t in_avail; /* in owner->segments_avail[kind] */
  uint8_t abandoned; /* in the abandoned pool (under its lock) */
  uint32_t page_count;
  uint32_t used_pages;
  uint32_t dirty_pages; /* free pages not yet purged */
  uint64_t free_mask;
  size_t size; /* bytes mapped */
  uint64_t cached_since_ms; /* in the segment cache: since when */
  uint8_t *huge_block; /* HAK_PAGE_HUGE: the block handed out */
  uintptr_t cookie; /* address ^ process secret: checked on slow paths */
  hak_segment_t *next, *prev;         /* owner's all-segments list, or the abandoned pool / cache */
  hak_segment_t *avail_next, *avail_prev; /* owner->segments_avail[kind] */
};
_Static_assert(sizeof(hak_segment_t) <= HAK_SEGMENT_HEADER_SIZE, "segment header too large");

/* ---------------------------------------------------------------------------
 * Heaps
 * ------------------------------------------------------------------------- */
typedef struct hak_heap_stats_s {
  uint64_t malloc_generic;
  uint64_t blocks_carved;
  uint64_t pages_fresh;
  uint64_t units_detached;
  uint64_t units_reattached;
#if defined(HAK_OBSERVE) && HAK_OBSERVE
  /* make observe: counted on the fast paths too */
  uint64_t obs_malloc[HAK_CLASS_COUNT]; /* allocations by class (fast and slow path) */
  uint64_t obs_free[HAK_CLASS_COUNT];   /* frees by the owner, by class */
  uint64_t obs_malloc_fast, obs_free_fast, obs_free_slow, obs_free_remote;
#endif
} hak_heap_stats_t;

/* Remote frees batched per page (xcache.c): a chain of blocks freed by this
 * thread into another thread's page, pushed on the page's xthread_free with
 * one CAS when the slot is needed for another page, when it holds
 * HAK_XCACHE_BATCH blocks, or at a flush (every 64th malloc slow path, hak_collect,
 * thread exit, fork). Cached blocks still count as in use in their page, so
 * the page and its segment stay alive until the flush. */
#define HAK_XCACHE_SLOTS 32
#ifndef HAK_XCACHE_BATCH
#define HAK_XCACHE_BATCH 64
#endif
typedef struct hak_xslot_s {
  hak_page_t *page; /* NULL: empty */
  hak_block_t *first, *last;
  uint32_t count;
} hak_xslot_t;

/* A thread heap. Owned by one thread; other threads only push pages on
 * xpages (armed full pages that got a remote free: the owner takes the
 * whole list at once on its allocation slow path).
 * pages_direct[c] is queues[c].first, or the static empty page when the queue
 * is empty, so the malloc fast path needs no NULL test; pages_small is the
 * same for requests up to 1 KiB, indexed by size in 16-byte steps, so the
 * commonest sizes need no size-class computation. */
struct hak_heap_s {
  hak_page_t *pages_small[HAK_SMALL_DIRECT_COUNT]; /* by (size+15)/16 for size <= 1 KiB */
  hak_page_t *pages_direct[HAK_CLASS_COUNT];
  hak_page_queue_t queues[HAK_CLASS_COUNT + 1]; /* + the full queue */
  hak_segment_t *segments;                      /* all owned segments */
  hak_segment_t *segments_avail[HAK_PAGE_KINDS]; /* owned, with free pages */
  _Atomic(hak_page_t *) xpages; /* linked by page->xnext */
#if HAK_XCACHE
  uint32_t xcached;         /* slots of xcache in use */
  hak_xslot_t xcache[HAK_XCACHE_SLOTS];
#endif
  uint32_t dirty_pages;     /* free dirty pages over all owned segments */
  hak_heap_stats_t stats;
  hak_heap_t *pool_next;    /* in the pool of free heap records */
  hak_heap_t *all_next;     /* every heap record ever made (the purge thread walks them) */
  /* Release state (release.c), under release_lock: the owner takes it on
   * slow paths only, the purge thread to purge for an idle owner. Guards the
   * segment list, pages' in_use/is_dirty/detached/purged, dirty_pages and
   * the pending list. */
  _Atomic(int) release_lock;
  hak_page_t *pending;      /* in-use pages with detached units not yet purged */
  _Atomic(uint32_t) release_work; /* pending pages + dirty pages: nonzero if the purge thread has work */
  uint64_t next_release_ms; /* the owner's next pass */
  uint64_t last_pass_ms;    /* when it last purged what was due */
  uint64_t last_walk_ms;    /* when it last walked its queues (remote frees) */
  uint32_t release_ticks;
  bool in_pass;             /* hak_release_pass is running (no re-entry) */
  bool live;
  void *prof;               /* prof.c: sampling countdowns (kept when the record is recycled) */
};

#endif /* HAK_TYPES_H */
