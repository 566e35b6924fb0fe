/* secure.c — the out-of-line half of secure mode (make secure; secure.h has
 * the inline checks and says what each hardening does). Compiled to nothing
 * in the other builds. */
#include "internal.h"

#if HAK_SECURE
#include <errno.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(hak_segment_t) + HAK_SECURE_GUARD <= HAK_SEGMENT_HEADER_SIZE,
               "the segment header has no room for its guard page");

/* "hakmem: FN(): WHAT 0x<p>" and abort, whatever HAKMEM_INVALID_FREE says:
 * the heap is already corrupt (no allocation, one write). */
_Noreturn void hak_secure_fatal(const char *fn, const char *what, const void *p) {
  char line[160], *q = line;
  const char *parts[] = {"hakmem: ", fn, "(): ", what, " "};
  for (size_t i = 0; i < 5; i++) {
    size_t n = strlen(parts[i]);
    if (n > 40) n = 40;
    memcpy(q, parts[i], n);
    q += n;
  }
  q = hak_fmt_hex(q, (uintptr_t)p);
  *q++ = '\n';
  *q = 0;
  hak_write_stderr(line);
  abort();
}

_Noreturn void hak_secure_corrupt(const char *fn, const void *p) { hak_secure_fatal(fn, "corrupted free list", p); }

/* 64 bits from the kernel (getrandom, raw syscall: no libc allocation), or
 * 0 if it has none to give; init.c mixes them into the process secret. */
uintptr_t hak_secure_entropy(void) {
  uintptr_t v = 0;
  int saved = errno;
  long r = syscall(SYS_getrandom, &v, sizeof(v), 1 /* GRND_NONBLOCK */);
  errno = saved;
  return r == (long)sizeof(v) ? v : 0;
}

/* A per-thread generator for the carve order (splitmix64). */
static hak_tls uint64_t rng_state;
static uint64_t rng_next(void) {
  if (hak_unlikely(rng_state == 0)) rng_state = hak_secret ^ (uintptr_t)&rng_state ^ hak_clock_ms();
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static size_t gcd(size_t a, size_t b) {
  while (b != 0) { size_t t = a % b; a = b; b = t; }
  return a;
}

/* Link n fresh blocks of bsize from first into a list in a random order:
 * block i of the list is (start + i * step) mod n, with a random start and a
 * random step prime to n (a random walk through the batch, not a uniform
 * shuffle: the next block handed out is not the neighbour of the last). */
hak_block_t *hak_secure_carve(uint8_t *first, size_t n, size_t bsize) {
  uint64_t r = rng_next();
  size_t at = (size_t)(r % n), step = 1;
  if (n > 2) {
    step = 1 + (size_t)((r >> 32) % (n - 1));
    while (gcd(step, n) != 1) step = step % (n - 1) + 1;
  }
  hak_block_t *head = (hak_block_t *)(first + at * bsize), *b = head;
  for (size_t i = 1; i < n; i++) {
    at += step;
    if (at >= n) at -= n;
    hak_block_t *next = (hak_block_t *)(first + at * bsize);
    hak_link_set(b, next);
    b = next;
  }
  hak_link_set(b, NULL);
  return head;
}

/* The owner takes the remote list `list` of page: every link must decode to
 * an address in the page, and the list must not hold more blocks than are in
 * use (`limit`): a block freed twice by other threads (its link overwritten in
 * between, else the second free was refused) makes it a cycle. Returns how
 * many and the last one in *tail; a failed check stops the program. */
size_t hak_secure_collect(hak_page_t *page, hak_block_t *list, size_t limit, hak_block_t **tail) {
  size_t n = 1;
  hak_block_t *b = list;
  if (!hak_secure_link_ok(page, b)) hak_secure_corrupt("free", b);
  for (hak_block_t *next; (next = hak_link_get(b)) != NULL; b = next) {
    if (!hak_secure_link_ok(page, next)) hak_secure_corrupt("free", b);
    if (++n > limit) hak_secure_fatal("free", "double free", next);
  }
  *tail = b;
  return n;
}

/* free_sized(p, size) / free_aligned_sized(p, alignment, size): does the
 * size (and alignment) fit the block p is? p must start a block handed out;
 * an invalid p is left for free to report. The size must not exceed the
 * usable size (a program that believes its block is larger than it is); a
 * smaller size is not refused: size classes round up, realloc keeps a block
 * it shrinks, and programs pass free_sized blocks of aligned_alloc too. */
bool hak_secure_sized_ok(const void *p, size_t alignment, size_t size) {
  if (p == NULL) return true;
  hak_segment_t *seg = hak_segment_lookup(p);
  if (seg == NULL) return true;
  if (alignment != 0 && (!hak_is_pow2(alignment) || ((uintptr_t)p & (alignment - 1)) != 0)) return false;
  if (seg->kind == HAK_PAGE_HUGE) return !hak_large_is_live(seg, p) || size <= hak_large_usable(seg, p);
  hak_page_t *page = hak_page_of_block(hak_segment_page_of(seg, p));
  if (!page->in_use || (const uint8_t *)p < page->start) return true;
  size_t off = (size_t)((const uint8_t *)p - page->start);
  if (off >= hak_page_carved(page)) return true;
  size_t idx = (size_t)(((unsigned __int128)off * page->block_divisor) >> 64);
  const uint8_t *b = page->start + idx * page->block_size;
  if (b != (const uint8_t *)p && !page->has_aligned) return true;
  return size <= (size_t)(b + page->block_size - (const uint8_t *)p);
}

/* The bytes a page's area loses to the guard page at the end of its
 * segment (the last page, or a span reaching the last slice). */
size_t hak_secure_guard_cut(const hak_segment_t *seg, const hak_page_t *page) {
  if (seg->kind == HAK_PAGE_HUGE) return 0;
  return (uint32_t)page->page_index + page->slices == seg->page_count ? HAK_SECURE_GUARD : 0;
}
#endif /* HAK_SECURE */
