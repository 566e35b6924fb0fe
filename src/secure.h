/* secure.h — secure mode (make secure: -DHAK_SECURE=1, build-secure/).
 *
 * Every hardening of secure mode is behind these few helpers; the standard
 * build compiles them to the plain pointer operations it always did (the
 * gate audit, bench/audit, checks its fast paths stay the same).
 *
 *   free-list links  a block's link word holds next ^ its own address ^ the
 *                    process secret (hak_link_get/hak_link_set); malloc
 *                    checks the decoded link is NULL or a block start of the
 *                    same page before following it (hak_secure_pop_next);
 *   double free      malloc clears the link word of the block it hands out,
 *                    so a block whose first word decodes to a valid link is
 *                    on a free list: free (owner or remote thread) refuses
 *                    it, whatever was freed in between. A block listed twice
 *                    anyway (its link overwritten after the first free) is
 *                    met a second time by malloc with a cleared link, or
 *                    makes the remote list longer than the blocks in use:
 *                    both stop the program before a block is handed out
 *                    twice;
 *   guard pages      PROT_NONE: the last 4 KiB of every 4 MiB segment, and
 *                    the 4 KiB between the segment header and page 0
 *                    (segment.c: hak_segment_map_alloc);
 *   carve order      each batch of fresh blocks is linked in a random order
 *                    (page.c: page_extend, secure.c: hak_secure_carve);
 *   free_sized       the size must fit the block (secure.c).
 * See docs/RELIABILITY.md ("Secure mode") for what is and is not caught. */
#ifndef HAK_SECURE_H
#define HAK_SECURE_H

/* ---- free-list links ----------------------------------------------------- */
static inline hak_block_t *hak_link_get(const hak_block_t *b) {
#if HAK_SECURE
  return (hak_block_t *)((uintptr_t)b->next ^ (uintptr_t)b ^ hak_secret);
#else
  return b->next;
#endif
}

static inline void hak_link_set(hak_block_t *b, hak_block_t *next) {
#if HAK_SECURE
  b->next = (hak_block_t *)((uintptr_t)next ^ (uintptr_t)b ^ hak_secret);
#else
  b->next = next;
#endif
}

#if HAK_SECURE
/* ---- secure.c ------------------------------------------------------------ */
_Noreturn void hak_secure_corrupt(const char *fn, const void *p) hak_internal; /* "corrupted free list" */
_Noreturn void hak_secure_fatal(const char *fn, const char *what, const void *p) hak_internal;
hak_block_t *hak_secure_carve(uint8_t *first, size_t n, size_t bsize) hak_internal;
size_t hak_secure_collect(hak_page_t *page, hak_block_t *list, size_t limit, hak_block_t **tail) hak_internal;
bool hak_secure_sized_ok(const void *p, size_t alignment, size_t size) hak_internal;
size_t hak_secure_guard_cut(const hak_segment_t *seg, const hak_page_t *page) hak_internal;
uintptr_t hak_secure_entropy(void) hak_internal;

#define HAK_SECURE_GUARD HAK_OS_PAGE_SIZE

/* Is n a link a free list of this page may hold: NULL, or an address in the
 * page's carved blocks? (A forged link that passes must know the secret.) */
static inline bool hak_secure_link_ok(const hak_page_t *page, const hak_block_t *n) {
  return n == NULL || (uintptr_t)n - (uintptr_t)page->start < hak_page_carved(page);
}

/* malloc takes b off the page's free list: its decoded link must be one the
 * page may hold; the link word is cleared, so a block handed out never
 * carries a valid link (which would make its free look like a double free). */
static inline hak_block_t *hak_secure_pop_next(hak_page_t *page, hak_block_t *b) {
  hak_block_t *next = hak_link_get(b);
  if (hak_unlikely(!hak_secure_link_ok(page, next))) hak_secure_corrupt("malloc", b);
  b->next = NULL;
  return next;
}

/* free(b), by any thread: a block whose first word decodes to a valid link
 * is on a free list (the owner's or the remote one) already. */
static inline bool hak_secure_is_free(const hak_page_t *page, const hak_block_t *b) {
  return hak_secure_link_ok(page, hak_link_get(b));
}
#endif /* HAK_SECURE */
#endif /* HAK_SECURE_H */
