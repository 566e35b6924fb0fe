/* interpose_mmap.c — a dlsym(RTLD_NEXT) interposer of mmap, munmap and
 * mremap, written the way tracing and debugging tools write them, preloaded
 * beside hakmem by tests/interpose.c and tests/known/interpose_alloc.c.
 * Built as libinterpose_mmap.so.
 *
 * Each hook resolves the real function with dlsym(RTLD_NEXT, ...) on its
 * first use, counts the call and forwards it. A nested call (the hook's own
 * work calling back into mmap through the allocator) goes straight to the
 * system call, as a careful interposer does: what is tested is whether hakmem
 * copes with the hook, not the hook itself. HAKTEST_INTERPOSE says what a
 * thread's first hook call does besides:
 *   (unset)  nothing more: in glibc 2.36, dlsym of a symbol that exists does
 *            not allocate
 *   dlerror  it also looks up an optional symbol that does not exist: glibc
 *            2.36 builds the "undefined symbol" message with malloc, inside
 *            dlsym, inside hakmem's mmap call
 *   calloc   it also callocs per-thread state, as glibc before 2.34 did inside
 *            every thread's first dlsym (_dlerror_run)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);
typedef void *(*mremap_fn)(void *, size_t, size_t, int, ...);

static _Atomic(mmap_fn) real_mmap;
static _Atomic(munmap_fn) real_munmap;
static _Atomic(mremap_fn) real_mremap;
static atomic_long n_mmap, n_munmap, n_mremap, n_nested, n_first;
static TLS int depth;      /* > 0 while this thread is inside a hook */
static TLS void *thread_state;

/* Counters for the test program (found with dlsym): 0 mmap, 1 munmap,
 * 2 mremap, 3 nested calls sent straight to the kernel, 4 threads whose
 * first hook call did the extra work. */
EXPORT long interpose_mmap_count(int which);
long interpose_mmap_count(int which) {
  switch (which) {
  case 0: return atomic_load(&n_mmap);
  case 1: return atomic_load(&n_munmap);
  case 2: return atomic_load(&n_mremap);
  case 3: return atomic_load(&n_nested);
  case 4: return atomic_load(&n_first);
  default: return -1;
  }
}

/* A thread's first hook call: resolve, and do what HAKTEST_INTERPOSE asks. */
static void first_call(void) {
  if (!atomic_load(&real_mmap)) atomic_store(&real_mmap, (mmap_fn)dlsym(RTLD_NEXT, "mmap"));
  if (!atomic_load(&real_munmap)) atomic_store(&real_munmap, (munmap_fn)dlsym(RTLD_NEXT, "munmap"));
  if (!atomic_load(&real_mremap)) atomic_store(&real_mremap, (mremap_fn)dlsym(RTLD_NEXT, "mremap"));
  if (thread_state != NULL) return;
  thread_state = &thread_state;
  const char *mode = getenv("HAKTEST_INTERPOSE");
  if (mode == NULL) return;
  atomic_fetch_add(&n_first, 1);
  if (strcmp(mode, "dlerror") == 0) {
    (void)dlsym(RTLD_NEXT, "interpose_mmap_optional_symbol");
    (void)dlerror();
  } else if (strcmp(mode, "calloc") == 0) {
    void *s = calloc(1, 64);
    if (s != NULL) thread_state = s; /* kept for the thread's life, as glibc did */
  }
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (depth > 0) {
    atomic_fetch_add(&n_nested, 1);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  }
  depth++;
  first_call();
  atomic_fetch_add(&n_mmap, 1);
  void *r = atomic_load(&real_mmap)(addr, len, prot, flags, fd, off);
  depth--;
  return r;
}

EXPORT int munmap(void *addr, size_t len) {
  if (depth > 0) {
    atomic_fetch_add(&n_nested, 1);
    return (int)syscall(SYS_munmap, addr, len);
  }
  depth++;
  first_call();
  atomic_fetch_add(&n_munmap, 1);
  int r = atomic_load(&real_munmap)(addr, len);
  depth--;
  return r;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *new_addr = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void *);
    va_end(ap);
  }
  if (depth > 0) {
    atomic_fetch_add(&n_nested, 1);
    return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
  }
  depth++;
  first_call();
  atomic_fetch_add(&n_mremap, 1);
  void *r = atomic_load(&real_mremap)(old, old_len, new_len, flags, new_addr);
  depth--;
  return r;
}
