/* hak_api.h — included first (-include) into every test built for
 * ThreadSanitizer (tests/tsan/tsan.mk): the test's malloc, free, ... become
 * calls of hakmem's hak_* API.
 *
 * Why: TSan replaces malloc itself, so a test calling `malloc` would test
 * TSan's allocator. Calling hak_* reaches hakmem, whose library is built with
 * -fsanitize=thread: its atomics, locks and plain accesses are all seen. TSan
 * does not know hak_malloc is an allocator, so when a block freed by one
 * thread is handed out again to another, the test's accesses to it before
 * the free and after the new allocation are checked against each other: they
 * are ordered only if hakmem's own synchronisation orders them (the release
 * of a remote free, the acquire when the owner collects it, the locks of
 * the abandoned pool). A missing barrier shows up as a race on user memory.
 *
 * Memory the C library allocated for the test (asprintf, strdup: TSan's
 * allocator) is given back to it: free() of a pointer hakmem does not own
 * goes to the real free.
 */
#ifndef HAKTEST_TSAN_HAK_API_H
#define HAKTEST_TSAN_HAK_API_H

/* the system's declarations first, before the names are redefined */
#include <malloc.h>
#include <stdlib.h>

#include "hakmem.h"

static inline void haktsan_free(void *p) {
  if (p == NULL || hak_owns(p)) hak_free(p);
  else free(p);
}

#define malloc(n) hak_malloc(n)
#define calloc(n, size) hak_calloc(n, size)
#define realloc(p, n) hak_realloc(p, n)
#define reallocarray(p, n, size) hak_reallocarray(p, n, size)
#define aligned_alloc(a, n) hak_aligned_alloc(a, n)
#define posix_memalign(out, a, n) hak_posix_memalign(out, a, n)
#define malloc_usable_size(p) hak_usable_size(p)
#define free(p) haktsan_free(p)

#endif
