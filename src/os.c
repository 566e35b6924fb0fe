/* os.c — every call hakmem makes to the OS for memory, and its error output.
 *
 * Mappings are private, anonymous and MAP_NORESERVE (no commit charge until
 * touched, so fork under heuristic overcommit does not fail). Segments must be
 * aligned to HAK_SEGMENT_SIZE: we first try a hinted mmap at an aligned address
 * (one syscall), and only if the kernel puts it elsewhere map size+alignment
 * and trim. Nothing here allocates; errors are written with write(2). */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define HAK_MMAP_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/* Next address to hint for an aligned mapping; 0 = let the kernel choose. */
static _Atomic(uintptr_t) os_hint;

/* Start hinting at a randomised, aligned address well above the heap and
 * below the stack/library area. */
void hak_os_init(uintptr_t secret) {
  uintptr_t base = ((uintptr_t)2 << 40) + ((secret >> 7) % 4096) * HAK_SEGMENT_SIZE;
  atomic_store_explicit(&os_hint, base, memory_order_relaxed);
}

static void os_unmap_raw(void *p, size_t size) {
  if (size == 0) return;
  int saved = errno;
  hak_stat_add(os_munmap, 1);
  if (munmap(p, size) != 0) hak_write_stderr("hakmem: warning: munmap failed\n");
  errno = saved;
}

void *hak_os_alloc_aligned(size_t size, size_t alignment) {
  int saved = errno;
  /* 1. an aligned hint: usually lands, one syscall */
  uintptr_t hint = atomic_load_explicit(&os_hint, memory_order_relaxed), next;
  do {
    next = hak_align_up(hint, alignment) + hak_align_up(size, HAK_SEGMENT_SIZE);
  } while (hint != 0 && !atomic_compare_exchange_weak_explicit(&os_hint, &hint, next, memory_order_relaxed, memory_order_relaxed));
  hint = hak_align_up(hint, alignment);
  if (hint != 0 && hint < ((uintptr_t)1 << 46)) {
    void *p = mmap((void *)hint, size, PROT_READ | PROT_WRITE, HAK_MMAP_FLAGS, -1, 0);
    if (p != MAP_FAILED) {
      hak_stat_add(os_mmap, 1);
      if (((uintptr_t)p & (alignment - 1)) == 0) {
        hak_stat_add_peak(&hak_stats.mapped_bytes, &hak_stats.mapped_peak, size);
        errno = saved;
        return p;
      }
      os_unmap_raw(p, size);
    }
  }
  /* 2. over-allocate and trim */
  uint8_t *p = hak_os_alloc_aligned_at(size, alignment, 0);
  if (p == NULL) return NULL;
  /* aim later hints just past this mapping: most will then land aligned */
  atomic_store_explicit(&os_hint, (uintptr_t)p + hak_align_up(size, alignment), memory_order_relaxed);
  errno = saved;
  return p;
}

/* A mapping p of size bytes with p + offset aligned to alignment (offset <=
 * alignment): map more than needed and unmap both ends. */
void *hak_os_alloc_aligned_at(size_t size, size_t alignment, size_t offset) {
  int saved = errno;
  size_t over = size + alignment;
  if (over < size) { errno = ENOMEM; return NULL; }
  uint8_t *raw = mmap(NULL, over, PROT_READ | PROT_WRITE, HAK_MMAP_FLAGS, -1, 0);
  if (raw == MAP_FAILED) { errno = ENOMEM; return NULL; }
  hak_stat_add(os_mmap, 1);
  uint8_t *p = (uint8_t *)hak_align_up((uintptr_t)raw + offset, alignment) - offset;
  size_t pre = (size_t)(p - raw), post = over - pre - size;
  os_unmap_raw(raw, pre);
  os_unmap_raw(p + size, post);
  hak_stat_add_peak(&hak_stats.mapped_bytes, &hak_stats.mapped_peak, size);
  errno = saved;
  return p;
}

void hak_os_free(void *p, size_t size) {
  os_unmap_raw(p, size);
  hak_stat_sub(mapped_bytes, size);
}

/* Give the pages back; the range reads as zero afterwards. */
void hak_os_purge(void *p, size_t size) {
  if (size == 0) return;
  int saved = errno;
  hak_stat_add(os_madvise, 1);
  hak_stat_add(purged_bytes, size);
  if (madvise(p, size, MADV_DONTNEED) != 0) {
    /* cannot happen on a range we mapped; make sure contents are zero anyway */
    memset(p, 0, size);
  }
  errno = saved;
}

#if HAK_SECURE
/* Secure mode's guard pages (segment.c): any access faults. */
void hak_os_guard(void *p, size_t size) {
  int saved = errno;
  if (mprotect(p, size, PROT_NONE) != 0) hak_fatal("mprotect of a guard page failed");
  errno = saved;
}
#endif

void hak_os_no_thp(void *p, size_t size) {
#ifdef MADV_NOHUGEPAGE
  int saved = errno;
  hak_stat_add(os_madvise, 1);
  (void)madvise(p, size, MADV_NOHUGEPAGE);
  errno = saved;
#else
  (void)p; (void)size;
#endif
}

/* Grow or shrink a mapping without moving it. */
bool hak_os_resize_in_place(void *p, size_t old_size, size_t new_size) {
  int saved = errno;
  hak_stat_add(os_mremap, 1);
  void *q = mremap(p, old_size, new_size, 0);
  errno = saved;
  if (q == MAP_FAILED) return false;
  if (new_size > old_size) hak_stat_add_peak(&hak_stats.mapped_bytes, &hak_stats.mapped_peak, new_size - old_size);
  else hak_stat_sub(mapped_bytes, old_size - new_size);
  return true;
}

/* Move a mapping's pages (no copy) to a fresh aligned range of new_size bytes. */
void *hak_os_move_aligned(void *p, size_t old_size, size_t new_size, size_t alignment) {
  int saved = errno;
  size_t over = new_size + alignment;
  if (over < new_size) return NULL;
  uint8_t *raw = mmap(NULL, over, PROT_NONE, HAK_MMAP_FLAGS, -1, 0);
  if (raw == MAP_FAILED) { errno = saved; return NULL; }
  hak_stat_add(os_mmap, 1);
  uint8_t *dst = (uint8_t *)hak_align_up((uintptr_t)raw, alignment);
  size_t pre = (size_t)(dst - raw), post = over - pre - new_size;
  os_unmap_raw(raw, pre);
  os_unmap_raw(dst + new_size, post);
  hak_stat_add(os_mremap, 1);
  void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
  if (q == MAP_FAILED) {
    os_unmap_raw(dst, new_size);
    errno = saved;
    return NULL;
  }
  hak_stat_add_peak(&hak_stats.mapped_bytes, &hak_stats.mapped_peak, new_size);
  hak_stat_sub(mapped_bytes, old_size);
  errno = saved;
  return q;
}

uint64_t hak_clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- error output: never allocates ------------------------------------- */
void hak_write_stderr(const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    s += w;
    n -= (size_t)w;
  }
}

char *hak_fmt_hex(char *buf, uintptr_t v) {
  static const char digits[] = "0123456789abcdef";
  char tmp[2 * sizeof(uintptr_t)];
  int n = 0;
  do { tmp[n++] = digits[v & 15]; v >>= 4; } while (v);
  *buf++ = '0';
  *buf++ = 'x';
  while (n) *buf++ = tmp[--n];
  *buf = 0;
  return buf;
}

char *hak_fmt_u64(char *buf, uint64_t v) {
  char tmp[24];
  int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) *buf++ = tmp[--n];
  *buf = 0;
  return buf;
}

_Noreturn void hak_fatal(const char *msg) {
  hak_write_stderr("hakmem: fatal: ");
  hak_write_stderr(msg);
  hak_write_stderr("\n");
  abort();
}

_Noreturn void hak_fatal_at(const char *msg, const void *p) {
  char line[256], *q = line;
  size_t n = strlen(msg);
  if (n > sizeof(line) - 48) n = sizeof(line) - 48;
  memcpy(q, "hakmem: fatal: ", 15);
  q += 15;
  memcpy(q, msg, n);
  q += n;
  *q++ = ' ';
  q = hak_fmt_hex(q, (uintptr_t)p);
  *q++ = '\n';
  *q = 0;
  hak_write_stderr(line); /* one write: one line, even with other threads writing */
  abort();
}

_Noreturn void hak_assert_fail(const char *expr, const char *file, int line) {
  char num[24];
  hak_fmt_u64(num, (uint64_t)line);
  hak_write_stderr("hakmem: assertion failed: ");
  hak_write_stderr(expr);
  hak_write_stderr(" at ");
  hak_write_stderr(file);
  hak_write_stderr(":");
  hak_write_stderr(num);
  hak_write_stderr("\n");
  abort();
}
