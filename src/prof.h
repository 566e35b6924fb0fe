/* prof.h — the heap profiler's interface to the rest of the allocator
 * (prof.c; docs/PROFILING.md explains the design).
 *
 * With HAKMEM_PROF unset nothing here runs: every hook below sits on a slow
 * path behind `hak_prof_on`, and the malloc/free fast paths are untouched.
 *
 * With it set:
 *   - the malloc slow path (hak_prof_malloc) charges the bytes it hands to
 *     the fast path against the thread's countdown to the next sample, and
 *     hands no more blocks than fit before it: it moves them from the page's
 *     free list to the class's window, a stand-in page in prof.c that the
 *     heap's direct entries point at (hak_heap_queue_set_direct leaves them
 *     alone); the malloc fast path pops from the window;
 *   - frees are untouched: the owner's go back on the page's own list, which
 *     only the slow path hands out;
 *   - a sampled allocation is served from a huge segment of its own
 *     (large.c), whose free always reaches hak_large_free_checked, where
 *     hak_prof_free finds its record; except a large block (above
 *     HAK_MEDIUM_MAX), alone in its page: it stays there, and the page's
 *     block_limit at 0 sends its free to hak_free_generic, which tells
 *     hak_prof_free. */
#ifndef HAK_PROF_H
#define HAK_PROF_H

#include "internal.h"

/* hak_prof_on (HAKMEM_PROF, set once at start-up) is declared in internal.h. */

void hak_prof_init(void) hak_internal;  /* hak_init, after the options */
void hak_prof_start(void) hak_internal; /* the library constructor: may allocate */
void hak_prof_at_exit(void) hak_internal;
void hak_prof_atfork_prepare(void) hak_internal;
void hak_prof_atfork_parent(void) hak_internal;
void hak_prof_atfork_child(void) hak_internal;

/* hak_malloc_generic, with a page whose free list is not empty */
void *hak_prof_malloc(hak_heap_t *heap, hak_page_t *page, size_t size, bool zero) hak_internal;
/* blocks above HAK_LARGE_MAX */
void *hak_prof_large_alloc(size_t size, size_t alignment, bool zero) hak_internal;
/* the blocks left in the heap's windows go back to their pages (thread
 * exit, hak_collect) */
void hak_prof_heap_flush(hak_heap_t *heap) hak_internal;
/* a huge block, or a large page's block with block_limit 0, was freed (p is
 * its start): true if it was a sampled one */
bool hak_prof_free(const void *p) hak_internal;
/* large.c: a huge segment for a sampled block, from the profiler's own pool
 * of freed ones when it has one of the size */
void *hak_large_alloc_sample(size_t size, bool zero) hak_internal;
/* a large block moved from p to q (realloc) and now holds size bytes */
void hak_prof_realloc(const void *p, void *q, size_t size) hak_internal;

/* large.c: is p a live huge block, or inside one an aligned allocation handed out? */
bool hak_large_owns(const hak_segment_t *seg, const void *p) hak_internal;

#endif /* HAK_PROF_H */
