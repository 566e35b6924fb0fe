/* alloc.c — the allocation entry points: malloc, calloc, realloc and the
 * aligned variants. The fast path itself is hak_heap_malloc (internal.h).
 *
 * Sizes above PTRDIFF_MAX, and every overflowing size computation, fail with
 * ENOMEM; a failed realloc leaves the old block untouched. */
#include <errno.h>

#include "internal.h"
#include "prof.h"

const char *hak_version(void) { return "hakmem 0.1.0"; }

void *hak_malloc(size_t size) { return hak_heap_malloc(hak_heap_tls, size, false); }

void *hak_calloc(size_t count, size_t size) {
  size_t total;
  if (hak_unlikely(__builtin_mul_overflow(count, size, &total))) {
    errno = ENOMEM;
    return NULL;
  }
  return hak_heap_malloc(hak_heap_tls, total, true);
}

void *hak_malloc_aligned_impl(size_t alignment, size_t size, bool zero) {
  if (alignment <= HAK_MIN_ALIGN) return hak_heap_malloc(hak_heap_tls, size, zero);
  if (size > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  if (size <= HAK_LARGE_MAX) {
    /* block sizes that are multiples of the alignment often come out aligned */
    size_t bsize = hak_class_block_size(hak_size_class(size));
    if ((bsize & (alignment - 1)) == 0) {
      void *p = hak_heap_malloc(hak_heap_tls, size, zero);
      if (p == NULL || ((uintptr_t)p & (alignment - 1)) == 0) return p;
      hak_free(p);
    }
    /* else over-allocate and hand out an aligned pointer inside the block */
    size_t padded = size + alignment - 1;
    if (padded <= HAK_LARGE_MAX) {
      uint8_t *b = hak_heap_malloc(hak_heap_tls, padded, false);
      if (b == NULL) return NULL;
      uint8_t *p = (uint8_t *)hak_align_up((uintptr_t)b, alignment);
      if (p != b) hak_segment_page_of(hak_ptr_segment(b), b)->has_aligned = 1;
      if (zero) memset(p, 0, size);
      return p;
    }
  }
  if (hak_heap_tls == &hak_heap_empty && hak_heap_init_thread() == NULL) { errno = ENOMEM; return NULL; }
  if (hak_unlikely(hak_prof_on)) return hak_prof_large_alloc(size, alignment, zero);
  return hak_large_alloc(size, alignment, zero);
}

void *hak_aligned_alloc(size_t alignment, size_t size) {
  if (!hak_is_pow2(alignment)) {
    errno = EINVAL;
    return NULL;
  }
  return hak_malloc_aligned_impl(alignment, size, false);
}

int hak_posix_memalign(void **out, size_t alignment, size_t size) {
  if (!hak_is_pow2(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = hak_malloc_aligned_impl(alignment, size, false);
  if (p == NULL) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

size_t hak_usable_size(const void *p) { return hak_usable_size_checked(p, "malloc_usable_size"); }

/* realloc(p, 0) frees p and returns NULL, as glibc does. */
void *hak_realloc(void *p, size_t size) {
  if (p == NULL) return hak_malloc(size);
  if (size == 0) {
    hak_free_inline(p, "realloc");
    return NULL;
  }
  hak_segment_t *seg = hak_segment_lookup(p);
  if (seg == NULL) {
    hak_invalid_pointer("realloc", p);
    errno = EINVAL; /* only reached when told to ignore invalid pointers */
    return NULL;
  }
  if (size > PTRDIFF_MAX) {
    errno = ENOMEM;
    return NULL;
  }
  if (seg->kind == HAK_PAGE_HUGE && hak_large_is_live(seg, p) && size > HAK_LARGE_MAX) {
    void *q = hak_large_realloc(seg, p, size);
    if (q != NULL && hak_unlikely(hak_prof_on)) hak_prof_realloc(p, q, size);
    if (q != NULL) return q;
  }
  size_t usable = hak_usable_size_checked(p, "realloc");
  if (usable == 0) {
    errno = EINVAL;
    return NULL;
  }
  /* fits, and would not waste more than half the block: keep it */
  if (size <= usable && size >= usable / 2 && seg->kind != HAK_PAGE_HUGE) return p;
  int saved = errno;
  void *q = hak_malloc(size);
  if (q == NULL) {
    if (size > usable) return NULL;
    errno = saved; /* shrinking: the block we have will do (glibc never fails a shrink) */
    return p;
  }
  memcpy(q, p, size < usable ? size : usable);
  hak_free_inline(p, "realloc");
  return q;
}

void *hak_reallocarray(void *p, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return hak_realloc(p, total);
}

void hak_collect(void) {
  hak_heap_collect(hak_heap_tls);
  hak_segment_cache_decay(0, true);
  hak_large_cache_decay(0, true);
}
