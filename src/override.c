/* override.c — every libc and C++ allocation entry point, mapped onto hakmem.
 *
 * With LD_PRELOAD or -lhakmem these definitions interpose on glibc's. The
 * glibc-internal names (__libc_malloc, ...) are replaced too, so that blocks
 * never cross allocators when glibc calls them directly. All functions live
 * in this one object so a static link pulls in the whole set at once. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include "internal.h"

/* The aliases need not repeat the attributes glibc declares on their targets. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif
#define HAK_ALIAS(fn) __attribute__((alias(#fn), visibility("default")))

/* Declarations glibc 2.36's headers do not have. */
HAK_EXPORT void free_sized(void *p, size_t size);
HAK_EXPORT void free_aligned_sized(void *p, size_t alignment, size_t size);
HAK_EXPORT void cfree(void *p);
HAK_EXPORT void *__libc_malloc(size_t size);
HAK_EXPORT void __libc_free(void *p);
HAK_EXPORT void *__libc_calloc(size_t count, size_t size);
HAK_EXPORT void *__libc_realloc(void *p, size_t size);
HAK_EXPORT void *__libc_memalign(size_t alignment, size_t size);
HAK_EXPORT void *__libc_valloc(size_t size);
HAK_EXPORT void *__libc_pvalloc(size_t size);
HAK_EXPORT int __posix_memalign(void **out, size_t alignment, size_t size);

/* ---- C ----------------------------------------------------------------------- */
HAK_EXPORT void *malloc(size_t size) { return hak_heap_malloc(hak_heap_tls, size, false); }
HAK_EXPORT void free(void *p) { hak_free_inline(p, "free"); }
HAK_EXPORT void *calloc(size_t count, size_t size) { return hak_calloc(count, size); }
HAK_EXPORT void *realloc(void *p, size_t size) { return hak_realloc(p, size); }
/* reallocarray, free_sized and free_aligned_sized go through the public realloc
 * and free: tools that replace the allocator's functions in every object
 * (valgrind's memcheck replaces malloc, free, realloc... but not these) then
 * see every block, instead of handing hakmem pointers from their own heap. */
HAK_EXPORT void *reallocarray(void *p, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, total);
}
HAK_EXPORT int posix_memalign(void **out, size_t alignment, size_t size) { return hak_posix_memalign(out, alignment, size); }
HAK_EXPORT void *aligned_alloc(size_t alignment, size_t size) { return hak_aligned_alloc(alignment, size); }
HAK_EXPORT size_t malloc_usable_size(void *p) { return hak_usable_size(p); }
HAK_EXPORT void free_sized(void *p, size_t size) {
  (void)size;
#if HAK_SECURE
  if (!hak_secure_sized_ok(p, 0, size)) { hak_wrong_size("free_sized", p); return; }
#endif
  free(p);
}
HAK_EXPORT void free_aligned_sized(void *p, size_t alignment, size_t size) {
  (void)alignment;
  (void)size;
#if HAK_SECURE
  if (!hak_secure_sized_ok(p, alignment, size)) { hak_wrong_size("free_aligned_sized", p); return; }
#endif
  free(p);
}

/* memalign rounds a non-power-of-two alignment up, as glibc does. */
HAK_EXPORT void *memalign(size_t alignment, size_t size) {
  if (alignment > ((size_t)1 << (sizeof(size_t) * 8 - 2))) { errno = EINVAL; return NULL; }
  if (!hak_is_pow2(alignment)) {
    size_t a = HAK_MIN_ALIGN;
    while (a < alignment) a <<= 1;
    alignment = a;
  }
  return hak_malloc_aligned_impl(alignment, size, false);
}

HAK_EXPORT void *valloc(size_t size) { return hak_malloc_aligned_impl(HAK_OS_PAGE_SIZE, size, false); }

HAK_EXPORT void *pvalloc(size_t size) {
  if (size > PTRDIFF_MAX) { errno = ENOMEM; return NULL; }
  return hak_malloc_aligned_impl(HAK_OS_PAGE_SIZE, hak_align_up(size ? size : 1, HAK_OS_PAGE_SIZE), false);
}

/* glibc's malloc_trim: give free memory back. Returns 1 (memory released). */
HAK_EXPORT int malloc_trim(size_t pad) {
  (void)pad;
  hak_collect();
  return 1;
}

void cfree(void *p) HAK_ALIAS(free);
void *__libc_malloc(size_t size) HAK_ALIAS(malloc);
void __libc_free(void *p) HAK_ALIAS(free);
void *__libc_calloc(size_t count, size_t size) HAK_ALIAS(calloc);
void *__libc_realloc(void *p, size_t size) HAK_ALIAS(realloc);
void *__libc_memalign(size_t alignment, size_t size) HAK_ALIAS(memalign);
void *__libc_valloc(size_t size) HAK_ALIAS(valloc);
void *__libc_pvalloc(size_t size) HAK_ALIAS(pvalloc);
int __posix_memalign(void **out, size_t alignment, size_t size) HAK_ALIAS(posix_memalign);

/* ---- C++ -------------------------------------------------------------------------
 * Written in C with the Itanium-mangled names, so the library needs no
 * libstdc++. On failure operator new runs the program's new_handler and
 * throws std::bad_alloc, both reached through weak references (present in
 * every C++ program; this file is built with -fexceptions). The nothrow forms
 * return NULL without calling the handler: C cannot catch what a handler
 * throws, and letting it escape a noexcept operator would terminate. */
typedef void (*hak_new_handler_t)(void);
extern hak_new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

static hak_noinline void *new_failed(size_t size, size_t alignment, bool nothrow) {
  if (nothrow) return NULL;
  for (;;) {
    hak_new_handler_t handler = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
    if (handler == NULL) {
      if (_ZSt17__throw_bad_allocv) _ZSt17__throw_bad_allocv();
      hak_fatal("operator new: out of memory");
    }
    handler();
    void *p = alignment ? hak_malloc_aligned_impl(alignment, size, false) : hak_malloc(size);
    if (p) return p;
  }
}

static inline void *new_aligned(size_t size, size_t alignment, bool nothrow) {
  if (hak_unlikely(!hak_is_pow2(alignment))) {
    if (nothrow) return NULL;
    alignment = HAK_MIN_ALIGN; /* undefined behaviour by the standard: be lenient */
  }
  void *p = hak_malloc_aligned_impl(alignment, size, false);
  return hak_likely(p != NULL) ? p : new_failed(size, alignment, nothrow);
}

HAK_EXPORT void *_Znwm(size_t size);
HAK_EXPORT void *_Znam(size_t size);
HAK_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt);
HAK_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *nt);
HAK_EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t alignment);
HAK_EXPORT void *_ZnamSt11align_val_t(size_t size, size_t alignment);
HAK_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *nt);
HAK_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *nt);
HAK_EXPORT void _ZdlPv(void *p);
HAK_EXPORT void _ZdaPv(void *p);
HAK_EXPORT void _ZdlPvm(void *p, size_t size);
HAK_EXPORT void _ZdaPvm(void *p, size_t size);
HAK_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
HAK_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);
HAK_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t alignment);
HAK_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t alignment);
HAK_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t alignment);
HAK_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t alignment);
HAK_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const void *nt);
HAK_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const void *nt);

void *_Znwm(size_t size) {
  void *p = hak_heap_malloc(hak_heap_tls, size, false);
  return hak_likely(p != NULL) ? p : new_failed(size, 0, false);
}
void *_Znam(size_t size) HAK_ALIAS(_Znwm);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt) {
  (void)nt;
  void *p = hak_heap_malloc(hak_heap_tls, size, false);
  return hak_likely(p != NULL) ? p : new_failed(size, 0, true);
}
void *_ZnamRKSt9nothrow_t(size_t size, const void *nt) HAK_ALIAS(_ZnwmRKSt9nothrow_t);
void *_ZnwmSt11align_val_t(size_t size, size_t alignment) { return new_aligned(size, alignment, false); }
void *_ZnamSt11align_val_t(size_t size, size_t alignment) HAK_ALIAS(_ZnwmSt11align_val_t);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *nt) {
  (void)nt;
  return new_aligned(size, alignment, true);
}
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t alignment, const void *nt)
    HAK_ALIAS(_ZnwmSt11align_val_tRKSt9nothrow_t);

void _ZdlPv(void *p) { hak_free_inline(p, "free"); }
void _ZdaPv(void *p) HAK_ALIAS(_ZdlPv);
void _ZdlPvm(void *p, size_t size) { (void)size; hak_free_inline(p, "free"); }
void _ZdaPvm(void *p, size_t size) HAK_ALIAS(_ZdlPvm);
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; hak_free_inline(p, "free"); }
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) HAK_ALIAS(_ZdlPvRKSt9nothrow_t);
void _ZdlPvSt11align_val_t(void *p, size_t alignment) { (void)alignment; hak_free_inline(p, "free"); }
void _ZdaPvSt11align_val_t(void *p, size_t alignment) HAK_ALIAS(_ZdlPvSt11align_val_t);
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t alignment) {
  (void)size;
  (void)alignment;
  hak_free_inline(p, "free");
}
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t alignment) HAK_ALIAS(_ZdlPvmSt11align_val_t);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const void *nt) {
  (void)alignment;
  (void)nt;
  hak_free_inline(p, "free");
}
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t alignment, const void *nt)
    HAK_ALIAS(_ZdlPvSt11align_val_tRKSt9nothrow_t);
