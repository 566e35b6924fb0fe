/* prof.h — the heap profiler's interface to the rest of the allocator
 * (prof.c; docs/PROFILING.md explains the design).
 *
 * With HAKMEM_PROF unset nothing here runs: every hook below sits on a slow
 * path behind `hak_prof_on`, and the malloc/free fast paths are untouched.
 *
 * With it set:
 *   - every free leaves the fast path (page_extend keeps page->block_limit at 0,
 *     so hak_page_is_block_start fails) and a thread's own frees are pushed
 *     on the page's xthread_free list, not on `free`: the list the malloc
 *     fast path pops from is filled only by the malloc slow path;
 *   - the malloc slow path (hak_prof_malloc) charges the bytes it hands to
 *     the fast path against the thread's countdown to the next sample, and
 *     hands no more blocks than fit before it;
 *   - a sampled allocation is served from a huge segment of its own
 *     (large.c), whose free always reaches hak_large_free_checked, where
 *     hak_prof_free finds its record. */
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
/* hak_free_generic, first: the free of a block the fast path would have
 * taken (the caller's own page, a block start), done the profiling way (on
 * the page's xthread_free list); false for anything else */
bool hak_prof_free_local(hak_segment_t *seg, hak_page_t *page, void *p, const char *fn) hak_internal;
/* a huge block was freed (p is its start) */
void hak_prof_free(const void *p) hak_internal;
/* a large block moved from p to q (realloc) and now holds size bytes */
void hak_prof_realloc(const void *p, void *q, size_t size) hak_internal;

/* large.c: is p a live huge block, or inside one an aligned allocation handed out? */
bool hak_large_owns(const hak_segment_t *seg, const void *p) hak_internal;

#endif /* HAK_PROF_H */
