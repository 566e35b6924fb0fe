/* xcache.c — remote frees batched per destination page (after snmalloc's
 * remote deallocation cache, which batches per destination allocator and
 * sends each batch as one message). Compiled only with HAK_XCACHE=1: it did
 * not win on the machine it was measured on (docs/BENCHMARKS.md).
 *
 * A thread with a heap that frees a block of another thread's page does not
 * CAS it onto the page's xthread_free at once: it links it into a small
 * direct-mapped cache of chains, one chain per page (types.h: hak_xslot_t).
 * A chain goes to its page with one CAS (free.c: free_remote, which keeps the
 * notification protocol: a chain into an ARMED page notifies the owner first,
 * then is pushed, exactly like a single block) when
 *   - a block of another page needs its slot,
 *   - it holds HAK_XCACHE_BATCH blocks,
 *   - every 64th allocation slow path, hak_collect, thread exit
 *     (hak_heap_thread_done), fork (the parent flushes before it forks).
 * Why it is safe: a cached block was never counted free by its page (`used`
 * still counts it in use), so the page is not given back to its segment and
 * the segment is not released, whatever its owner does meanwhile (exit,
 * abandon, adoption by anyone, including this thread); the flush then follows
 * the page's state as free_remote always does.
 * Threads without a heap (they never allocated) do not cache: nothing would
 * flush them at exit. A thread that frees remotely and then blocks keeps at
 * most HAK_XCACHE_SLOTS * (HAK_XCACHE_BATCH - 1) blocks held until it
 * allocates, collects or exits. */
#include "internal.h"

#if HAK_XCACHE

/* The chain goes to its page. If the page's thread exited meanwhile (the
 * segment is abandoned) this heap adopts the segment, as free does, and
 * if this heap owns it now the blocks are freed locally. */
static hak_noinline void slot_flush(hak_heap_t *heap, hak_xslot_t *slot) {
  hak_page_t *page = slot->page;
  hak_segment_t *seg = hak_ptr_segment(page);
  slot->page = NULL;
  heap->xcached--;
  hak_heap_t *owner = hak_segment_owner(seg);
  if (owner == NULL && hak_segment_abandoned_peek(seg) && hak_segment_reclaim_for_free(heap, seg)) owner = heap;
  if (owner != heap) {
    hak_free_remote_chain(seg, page, slot->first, slot->last);
    return;
  }
  for (hak_block_t *b = slot->first; b != NULL;) {
    hak_block_t *next = b->next;
    hak_page_free_local(heap, page, b, "free");
    b = next;
  }
}

void hak_xcache_put(hak_heap_t *heap, hak_segment_t *seg, hak_page_t *page, hak_block_t *block, const char *fn) {
  (void)seg;
  /* by the page's index in its segment (descriptors are 128 bytes apart) */
  hak_xslot_t *slot = &heap->xcache[((uintptr_t)page >> 7) % HAK_XCACHE_SLOTS];
  if (slot->page == page) {
    if (hak_unlikely(block == slot->first)) { /* freed twice in a row: refused */
      hak_double_free(fn, block);
      return;
    }
    block->next = slot->first;
    slot->first = block;
    if (++slot->count >= HAK_XCACHE_BATCH) slot_flush(heap, slot);
    return;
  }
  if (slot->page != NULL) slot_flush(heap, slot);
  block->next = NULL;
  slot->page = page;
  slot->first = slot->last = block;
  slot->count = 1;
  heap->xcached++;
}

void hak_xcache_flush(hak_heap_t *heap) {
  for (size_t i = 0; i < HAK_XCACHE_SLOTS && heap->xcached != 0; i++)
    if (heap->xcache[i].page != NULL) slot_flush(heap, &heap->xcache[i]);
}
#endif /* HAK_XCACHE */
