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
 *   block bitmap     one bit per 16-byte granule of a segment's 4 MiB, in
 *                    the segment header: set while the block starting there
 *                    is handed out (or pushed on its page's remote list and
 *                    not yet collected). malloc checks it is clear and sets
 *                    it; free checks it is set and clears it: a double free
 *                    is refused whatever was freed in between;
 *   remote tag       a block another thread frees carries a tag in its second
 *                    word until its owner collects it, so a second free of a
 *                    block waiting on the remote list (by any thread) is
 *                    refused at once; the collection checks the bitmap of
 *                    every block it takes and stops at a block listed twice;
 *   guard pages      PROT_NONE: the last 4 KiB of every 4 MiB segment, and
 *                    the 4 KiB between the segment header and page 0
 *                    (segment.c: segment_guard);
 *   carve order      each batch of fresh blocks is linked in a random order
 *                    (page.c: page_extend, secure.c: hak_secure_carve);
 *   free_sized       the size must fit the block (secure.c).
 * Only the owner thread writes a page's bitmap words (relaxed atomic stores,
 * plain moves); remote frees only read them. See docs/RELIABILITY.md. */
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
bool hak_secure_free_remote(hak_block_t *b) hak_internal;
bool hak_secure_sized_ok(const void *p, size_t alignment, size_t size) hak_internal;
size_t hak_secure_guard_cut(const hak_segment_t *seg, const hak_page_t *page) hak_internal;
uintptr_t hak_secure_entropy(void) hak_internal;

/* The block bitmap: one bit per HAK_MIN_ALIGN bytes of the segment's first
 * 4 MiB, after the segment struct (types.h: HAK_SEGMENT_HEADER_SIZE). */
#define HAK_SECURE_BITMAP_OFFSET ((size_t)12 << 10)
#define HAK_SECURE_BITMAP_SIZE (HAK_SEGMENT_SIZE / HAK_MIN_ALIGN / 8) /* 32 KiB */
#define HAK_SECURE_GUARD HAK_OS_PAGE_SIZE

static inline uint64_t *hak_secure_bits(const void *b, uint64_t *mask) {
  uintptr_t g = ((uintptr_t)b & HAK_SEGMENT_MASK) / HAK_MIN_ALIGN;
  *mask = (uint64_t)1 << (g & 63);
  return (uint64_t *)(((uintptr_t)b & ~HAK_SEGMENT_MASK) + HAK_SECURE_BITMAP_OFFSET) + (g >> 6);
}

/* The tag a remote free leaves in a block's second word. */
static inline uintptr_t hak_secure_tag(const hak_block_t *b) {
  return ((uintptr_t)b * 0x9e3779b97f4a7c15ULL) ^ hak_secret;
}

/* malloc takes b off the page's free list: its decoded link must be NULL
 * or a block start of the page, and b must not be handed out already. */
static inline hak_block_t *hak_secure_pop_next(hak_page_t *page, hak_block_t *b) {
  hak_block_t *next = hak_link_get(b);
  uint64_t m, *w = hak_secure_bits(b, &m);
  uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
  if (hak_unlikely((v & m) != 0 || (next != NULL && !hak_page_is_block_start(page, next))))
    hak_secure_corrupt("malloc", b);
  __atomic_store_n(w, v | m, __ATOMIC_RELAXED);
  return next;
}

/* The owner frees b: false (refused) if b is not handed out, or is waiting
 * on the page's remote list (freed by another thread). */
static inline bool hak_secure_free_local(hak_block_t *b) {
  uint64_t m, *w = hak_secure_bits(b, &m);
  uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
  if (hak_unlikely((v & m) == 0 || ((const uintptr_t *)b)[1] == hak_secure_tag(b))) return false;
  __atomic_store_n(w, v & ~m, __ATOMIC_RELAXED);
  return true;
}
#endif /* HAK_SECURE */
#endif /* HAK_SECURE_H */
