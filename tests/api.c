/* api.c — conformance of every allocation entry point, through the hak_* API,
 * the standard names and the __libc_* aliases. Linked with -lhakmem.
 *
 * usage: api            (every section, each in a child process of its own)
 *        api SECTION...  (only those, in this process: misc owns stats sizes realloc
 *                         align valloc overflow errno zero calloc overlap collect)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "hakmem.h"

/* Not declared by glibc 2.36's headers (or only as compat symbols). */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t alignment, size_t size);
void cfree(void *p);
void *__libc_malloc(size_t size);
void __libc_free(void *p);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
int __posix_memalign(void **out, size_t alignment, size_t size);

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* ---------------------------------------------------------------- helpers */

/* Keep the compiler from reasoning about pointers we pass around. */
static void *launder(void *p) {
  __asm__ volatile("" : "+r"(p));
  return p;
}

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static inline unsigned char pat(size_t i, unsigned seed) {
  return (unsigned char)((i * 131u) ^ (i >> 9) ^ (i >> 17) ^ (seed * 29u) ^ 0x5a);
}
/* Blocks above 1 MiB are filled/verified at sampled positions only (the
 * first and last 4 KiB and every 61st byte), to keep the run short. */
static inline int sampled(size_t i, size_t n) {
  return n <= MiB || i < 4096 || i + 4096 >= n || i % 61 == 0;
}
static void fill(void *p, size_t n, unsigned seed) {
  unsigned char *b = p;
  if (n <= MiB) {
    for (size_t i = 0; i < n; i++) b[i] = pat(i, seed);
    return;
  }
  for (size_t i = 0; i < 4096; i++) b[i] = pat(i, seed);
  for (size_t i = 4096; i + 4096 < n; i += 61 - (i % 61)) b[i] = pat(i, seed);
  for (size_t i = n - 4096; i < n; i++) b[i] = pat(i, seed);
}
/* Verify bytes [0, upto) of a block that was filled with fill(p, n, seed).
 * Returns the index of the first bad byte, or SIZE_MAX. */
static size_t verify(const void *p, size_t upto, size_t n, unsigned seed) {
  const unsigned char *b = p;
  if (upto > n) upto = n;
  for (size_t i = 0; i < upto; i++) {
    if (!sampled(i, n)) {
      size_t next = i + (61 - (i % 61));
      size_t tail = n >= 4096 ? n - 4096 : 0;
      if (next > tail) next = tail;
      if (next > i) i = next - 1;
      continue;
    }
    if (b[i] != pat(i, seed)) return i;
  }
  return SIZE_MAX;
}

/* ------------------------------------------------------------ API tables */

static size_t std_usable(void *p) { return malloc_usable_size(p); }
static size_t hak_usable(void *p) { return hak_usable_size(p); }
static void libc_free_sized(void *p, size_t n) { (void)n; cfree(p); }
static void libc_free_aligned_sized(void *p, size_t a, size_t n) { (void)a; (void)n; __libc_free(p); }
static void *std_memalign(size_t a, size_t n) { return memalign(a, n); }

struct api {
  const char *name;
  void *(*malloc_)(size_t);
  void *(*calloc_)(size_t, size_t);
  void *(*realloc_)(void *, size_t);
  void *(*reallocarray_)(void *, size_t, size_t);
  void (*free_)(void *);
  size_t (*usable_)(void *);
  void *(*aligned_)(size_t, size_t); /* aligned_alloc or memalign */
  int (*posix_memalign_)(void **, size_t, size_t);
  void (*free_sized_)(void *, size_t);
  void (*free_aligned_sized_)(void *, size_t, size_t);
  int strict_align; /* aligned_ rejects a non-power-of-two alignment with EINVAL */
};

static const struct api APIS[] = {
    {"hak", hak_malloc, hak_calloc, hak_realloc, hak_reallocarray, hak_free, hak_usable,
     hak_aligned_alloc, hak_posix_memalign, hak_free_sized, hak_free_aligned_sized, 1},
    {"std", malloc, calloc, realloc, reallocarray, free, std_usable, aligned_alloc,
     posix_memalign, free_sized, free_aligned_sized, 1},
    {"libc", __libc_malloc, __libc_calloc, __libc_realloc, reallocarray, __libc_free, std_usable,
     __libc_memalign, __posix_memalign, libc_free_sized, libc_free_aligned_sized, 0},
    {"memalign", malloc, calloc, realloc, reallocarray, cfree, std_usable, std_memalign,
     posix_memalign, free_sized, free_aligned_sized, 0},
};
#define NAPIS (sizeof APIS / sizeof APIS[0])

/* A freshly allocated block of `size` bytes: non-NULL, 16-aligned, owned,
 * usable >= size, all usable bytes writable. Returns usable size. */
static size_t check_block(const struct api *A, const char *what, void *p, size_t size, size_t align) {
  CHECKF(p != NULL, "%s %s(%zu) returned NULL", A->name, what, size);
  if (!p) return 0;
  if (align < 16) align = 16;
  CHECKF(aligned_to(p, align), "%s %s(%zu) = %p not %zu-aligned", A->name, what, size, p, align);
  CHECKF(hak_owns(p), "%s %s(%zu) = %p not owned by hakmem", A->name, what, size, p);
  size_t u = A->usable_(p);
  CHECKF(u >= size, "%s %s(%zu): usable %zu < size", A->name, what, size, u);
  CHECKF(hak_usable_size(p) == u, "%s %s(%zu): hak_usable_size %zu != malloc_usable_size %zu",
         A->name, what, size, hak_usable_size(p), u);
  if (u) memset(p, 0xC3, u);
  return u;
}

/* ------------------------------------------------------------- sections */

static size_t *size_list(size_t *count) {
  size_t cap = 8192, n = 0;
  size_t *v = malloc(cap * sizeof *v);
  REQUIRE(v);
#define ADD(s)                                          \
  do {                                                  \
    if (n == cap) {                                     \
      cap *= 2;                                         \
      v = realloc(v, cap * sizeof *v);                  \
      REQUIRE(v);                                       \
    }                                                   \
    v[n++] = (s);                                       \
  } while (0)
  for (size_t s = 0; s <= 4096; s++) ADD(s);
  for (size_t s = 4097; s <= 70000; s += 61) ADD(s);
  for (int e = 3; e <= 26; e++) {
    size_t p = (size_t)1 << e;
    size_t pts[3] = {p / 4 * 3, p, p / 4 * 5};
    for (int k = 0; k < 3; k++)
      for (int d = -1; d <= 1; d++) ADD(pts[k] + (size_t)d);
  }
#undef ADD
  *count = n;
  return v;
}

static void test_sizes(const struct api *A) {
  size_t n;
  size_t *sizes = size_list(&n);
  enum { RING = 16 };
  struct {
    void *p;
    size_t size, usable;
    unsigned seed;
    int how;
  } ring[RING];
  memset(ring, 0, sizeof ring);
  for (size_t k = 0; k < n + RING; k++) {
    int slot = (int)(k % RING);
    if (ring[slot].p) { /* still intact? (catches overlap between neighbours) */
      size_t bad = verify(ring[slot].p, ring[slot].usable, ring[slot].usable, ring[slot].seed);
      CHECKF(bad == SIZE_MAX, "%s: block %p of size %zu corrupted at offset %zu", A->name,
             ring[slot].p, ring[slot].size, bad);
      if (ring[slot].how % 2) A->free_sized_(ring[slot].p, ring[slot].size);
      else A->free_(ring[slot].p);
      ring[slot].p = NULL;
    }
    if (k >= n) continue;
    size_t size = sizes[k];
    /* Blocks above 4 MiB take the same path whatever the entry point: touching
     * all of them once (through the first API) is enough, and page faults on
     * fresh mappings are what makes this test slow. */
    if (size > 4 * MiB && A != &APIS[0]) continue;
    void *p;
    int how = (int)(k % 5);
    if (how == 4) {
      p = A->calloc_(1, size);
      if (p) {
        size_t nz = 0;
        for (size_t i = 0; i < size; i++) nz += ((unsigned char *)p)[i] != 0;
        CHECKF(nz == 0, "%s calloc(1, %zu): %zu non-zero bytes", A->name, size, nz);
      }
    } else if (how == 3) {
      p = A->realloc_(NULL, size);
    } else {
      p = A->malloc_(size);
    }
    size_t u = check_block(A, how == 4 ? "calloc" : how == 3 ? "realloc(NULL)" : "malloc", p, size, 16);
    if (!p) continue;
    fill(p, u, (unsigned)k);
    ring[slot].p = p;
    ring[slot].size = size;
    ring[slot].usable = u;
    ring[slot].seed = (unsigned)k;
    ring[slot].how = (int)k;
  }
  free(sizes);
}

static void test_realloc(const struct api *A) {
  static const size_t chain[] = {1,      7,       16,          17,      100,     512,     1000,
                                 1025,   4000,    8192,        20000,   65536,   70000,   130000,
                                 262145, 600000,  MiB + 1,     3 * MiB, 8 * MiB + 5, 33 * MiB};
  const size_t nc = sizeof chain / sizeof chain[0];
  /* up through all ranges, then back down, checking contents at each step */
  for (int variant = 0; variant < 2; variant++) {
    size_t prev = variant ? 33 * MiB : 0;
    char *p = NULL;
    unsigned seed = 1;
    for (size_t step = 0; step < 2 * nc; step++) {
      size_t idx = step < nc ? step : 2 * nc - 1 - step;
      if (variant) idx = nc - 1 - idx; /* down first, then up */
      size_t size = chain[idx];
      char *q = A->realloc_(p, size);
      CHECKF(q != NULL, "%s realloc(%p, %zu) failed", A->name, (void *)p, size);
      if (!q) return;
      CHECKF(aligned_to(q, 16) && hak_owns(q), "%s realloc -> %p", A->name, (void *)q);
      CHECKF(A->usable_(q) >= size, "%s realloc(.., %zu): usable %zu", A->name, size, A->usable_(q));
      if (p) {
        size_t keep = prev < size ? prev : size;
        size_t bad = verify(q, keep, prev, seed);
        CHECKF(bad == SIZE_MAX, "%s realloc %zu -> %zu: byte %zu lost", A->name, prev, size, bad);
      }
      seed++;
      fill(q, size, seed);
      p = q;
      prev = size;
    }
    void *z = A->realloc_(p, 0); /* frees, returns NULL */
    CHECKF(z == NULL, "%s realloc(p, 0) returned %p, want NULL", A->name, z);
  }

  /* random sequences on a few live blocks */
  unsigned long long rs = 12345;
  struct {
    char *p;
    size_t n;
    unsigned seed;
  } b[6];
  memset(b, 0, sizeof b);
  for (int it = 0; it < 2500; it++) {
    int i = (int)rng_below(&rs, 6);
    unsigned r = (unsigned)rng_below(&rs, 100);
    size_t size;
    if (r < 60) size = rng_below(&rs, 600);
    else if (r < 90) size = 600 + rng_below(&rs, 64 * KiB);
    else if (r < 98) size = 64 * KiB + rng_below(&rs, MiB);
    else size = MiB + rng_below(&rs, 7 * MiB);
    char *q = A->realloc_(b[i].p, size);
    if (size == 0) { /* glibc semantics: freed, NULL */
      CHECKF(q == NULL, "%s realloc(p, 0) returned %p", A->name, (void *)q);
      b[i].p = NULL;
      b[i].n = 0;
      continue;
    }
    CHECKF(q != NULL, "%s realloc(%zu) failed", A->name, size);
    if (!q) continue;
    CHECKF(aligned_to(q, 16) && A->usable_(q) >= size, "%s realloc(%zu) -> %p usable %zu", A->name,
           size, (void *)q, A->usable_(q));
    if (b[i].p) {
      size_t keep = b[i].n < size ? b[i].n : size;
      size_t bad = verify(q, keep, b[i].n, b[i].seed);
      CHECKF(bad == SIZE_MAX, "%s random realloc %zu -> %zu lost byte %zu", A->name, b[i].n, size, bad);
    }
    b[i].seed = (unsigned)it + 77;
    fill(q, size, b[i].seed);
    b[i].p = q;
    b[i].n = size;
  }
  for (int i = 0; i < 6; i++) A->free_(b[i].p);

  /* realloc within the usable size keeps every usable byte */
  for (size_t s = 1; s < 300000; s = s * 3 + 1) {
    char *p = A->malloc_(s);
    REQUIRE(p);
    size_t u = A->usable_(p);
    fill(p, u, 9);
    char *q = A->realloc_(p, u);
    REQUIRE(q);
    CHECKF(verify(q, u, u, 9) == SIZE_MAX, "%s realloc(p, usable=%zu) lost data", A->name, u);
    char *r = A->realloc_(q, u > 1 ? u - 1 : 1);
    REQUIRE(r);
    CHECKF(verify(r, u > 1 ? u - 1 : 1, u, 9) == SIZE_MAX, "%s shrink by one lost data", A->name);
    A->free_(r);
  }

  /* huge block grown in many steps (mremap / in-place growth paths) */
  {
    size_t n = MiB;
    char *p = A->malloc_(n);
    REQUIRE(p);
    for (size_t i = 0; i < n; i += 4093) p[i] = pat(i, 3);
    while (n < 64 * MiB) {
      size_t m = n + MiB + 4097;
      char *q = A->realloc_(p, m);
      CHECKF(q != NULL, "%s realloc grow to %zu failed", A->name, m);
      if (!q) break;
      for (size_t i = n - n % 4093 + (n % 4093 ? 4093 : 0); i < m; i += 4093) q[i] = pat(i, 3);
      p = q;
      n = m;
    }
    size_t bad = 0;
    for (size_t i = 0; i < n; i += 4093) bad += p[i] != (char)pat(i, 3);
    CHECKF(bad == 0, "%s stepwise huge growth: %zu sampled bytes lost", A->name, bad);
    /* and shrink it back in steps */
    while (n > 100) {
      n = n / 3;
      char *q = A->realloc_(p, n);
      CHECKF(q != NULL, "%s realloc shrink to %zu failed", A->name, n);
      if (!q) break;
      p = q;
      bad = 0;
      for (size_t i = 0; i < n; i += 4093) bad += p[i] != (char)pat(i, 3);
      CHECKF(bad == 0, "%s stepwise shrink to %zu: %zu sampled bytes lost", A->name, n, bad);
    }
    A->free_(p);
  }

  /* realloc of aligned blocks keeps the contents */
  for (size_t a = 32; a <= 2 * MiB; a *= 8) {
    char *p = A->aligned_(a, 1000);
    REQUIRE(p);
    fill(p, 1000, 5);
    char *q = A->realloc_(p, 50000);
    REQUIRE(q);
    CHECKF(verify(q, 1000, 1000, 5) == SIZE_MAX, "%s realloc of %zu-aligned block lost data", A->name, a);
    char *r = A->realloc_(q, 10);
    REQUIRE(r);
    CHECKF(verify(r, 10, 1000, 5) == SIZE_MAX, "%s realloc shrink of aligned block lost data", A->name);
    A->free_(r);
  }

  /* reallocarray */
  {
    char *p = A->reallocarray_(NULL, 10, 10);
    check_block(A, "reallocarray", p, 100, 16);
    REQUIRE(p);
    fill(p, 100, 4);
    char *q = A->reallocarray_(p, 1000, 100);
    check_block(A, "reallocarray", q, 100000, 16);
    REQUIRE(q);
    /* check_block memset the block: refill and shrink */
    fill(q, 100000, 4);
    char *r = A->reallocarray_(q, 3, 7);
    REQUIRE(r);
    CHECK(verify(r, 21, 100000, 4) == SIZE_MAX);
    A->free_(r);
  }
}

static void test_align(const struct api *A) {
  for (size_t a = 1; a <= 4 * MiB; a *= 2) {
    size_t sizes[] = {1, 8, 100, a / 2 + 1, a - 1, a, a + 1, 3 * a + 5, 0};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      size_t s = sizes[k];
      void *p = A->aligned_(a, s);
      char what[64];
      snprintf(what, sizeof what, "aligned(%zu)", a);
      check_block(A, what, p, s, a);
      if (p) {
        if (k % 2) A->free_aligned_sized_(p, a, s);
        else A->free_(p);
      }
      void *q = (void *)0x1234;
      int r = A->posix_memalign_(&q, a, s);
      if (a < sizeof(void *)) {
        CHECKF(r == EINVAL, "%s posix_memalign(align %zu) = %d, want EINVAL", A->name, a, r);
        CHECKF(q == (void *)0x1234, "%s posix_memalign wrote *memptr on failure", A->name);
      } else {
        CHECKF(r == 0, "%s posix_memalign(align %zu, %zu) = %d", A->name, a, s, r);
        if (r == 0) {
          snprintf(what, sizeof what, "posix_memalign(%zu)", a);
          check_block(A, what, q, s, a);
          A->free_(q);
        }
      }
    }
  }
  /* many live aligned blocks at once */
  void *live[200];
  for (int i = 0; i < 200; i++) {
    size_t a = (size_t)1 << (4 + i % 13); /* 16 .. 64 KiB */
    live[i] = A->aligned_(a, 24 + (size_t)i * 40);
    CHECK(live[i] && aligned_to(live[i], a));
    if (live[i]) memset(live[i], i, 24 + (size_t)i * 40);
  }
  for (int i = 0; i < 200; i++) {
    if (!live[i]) continue;
    unsigned char *b = live[i];
    size_t bad = 0;
    for (size_t j = 0; j < 24 + (size_t)i * 40; j++) bad += b[j] != (unsigned char)i;
    CHECKF(bad == 0, "%s aligned block %d corrupted (%zu bytes)", A->name, i, bad);
    A->free_(live[i]);
  }

  if (A->strict_align) {
    size_t bad[] = {0, 3, 24, 48, 1000, ((size_t)1 << 20) + 16, SIZE_MAX};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
      errno = 0;
      void *p = A->aligned_(bad[k], 64);
      CHECKF(p == NULL && errno == EINVAL, "%s aligned_alloc(%zu, 64) = %p errno %d, want NULL/EINVAL",
             A->name, bad[k], p, errno);
      if (p) A->free_(p);
    }
  }
  size_t pbad[] = {0, 1, 2, 3, 4, 12, 24, 48, 1000, SIZE_MAX};
  for (size_t k = 0; k < sizeof pbad / sizeof pbad[0]; k++) {
    void *q = (void *)0x1234;
    errno = 0;
    int r = A->posix_memalign_(&q, pbad[k], 64);
    CHECKF(r == EINVAL, "%s posix_memalign(align %zu) = %d, want EINVAL", A->name, pbad[k], r);
    CHECKF(q == (void *)0x1234, "%s posix_memalign(align %zu) wrote *memptr on failure", A->name, pbad[k]);
    if (r == 0) A->free_(q);
  }
  /* power-of-two alignment far too large to satisfy */
  {
    void *q = (void *)0x1234;
    int r = A->posix_memalign_(&q, (size_t)1 << 62, 64);
    CHECKF(r == ENOMEM || r == EINVAL, "%s posix_memalign(2^62) = %d", A->name, r);
    CHECKF(q == (void *)0x1234, "%s posix_memalign(2^62) wrote *memptr", A->name);
    errno = 0;
    void *p = A->aligned_((size_t)1 << 62, 64);
    CHECKF(p == NULL && (errno == ENOMEM || errno == EINVAL), "%s aligned(2^62) = %p errno %d", A->name, p, errno);
  }
}

static void test_valloc(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t sizes[] = {1, 100, 4095, 4096, 4097, 10000, 100000, MiB + 3, 5 * MiB};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t s = sizes[k];
    void *(*vfns[2])(size_t) = {valloc, __libc_valloc};
    void *(*pfns[2])(size_t) = {pvalloc, __libc_pvalloc};
    for (int f = 0; f < 2; f++) {
      void *p = vfns[f](s);
      check_block(&APIS[1], f ? "__libc_valloc" : "valloc", p, s, page);
      free(p);
      p = pfns[f](s);
      size_t rounded = (s + page - 1) / page * page;
      check_block(&APIS[1], f ? "__libc_pvalloc" : "pvalloc", p, rounded, page);
      free(p);
    }
    void *m = memalign(page, s);
    check_block(&APIS[1], "memalign(page)", m, s, page);
    cfree(m);
  }
  void *p = pvalloc(0);
  CHECK(p != NULL && aligned_to(p, page));
  free(p);
  for (size_t a = 1; a <= 4 * MiB; a *= 4) {
    void *q = __libc_memalign(a, 3 * a);
    char what[64];
    snprintf(what, sizeof what, "__libc_memalign(%zu)", a);
    check_block(&APIS[2], what, q, 3 * a, a);
    __libc_free(q);
  }
}

static void test_overflow(const struct api *A) {
  const size_t PD = (size_t)PTRDIFF_MAX;
  size_t huge[] = {PD + 1,         SIZE_MAX,         SIZE_MAX - 1,       SIZE_MAX - 15,
                   SIZE_MAX - 4095, SIZE_MAX - 2 * MiB, SIZE_MAX / 2 + 1, PD,
                   PD - 4095,      PD - 2 * MiB,     (size_t)1 << 62};
  const size_t nh = sizeof huge / sizeof huge[0];
  for (size_t k = 0; k < nh; k++) {
    errno = 0;
    void *p = A->malloc_(huge[k]);
    CHECKF(p == NULL && errno == ENOMEM, "%s malloc(%#zx) = %p errno %d", A->name, huge[k], p, errno);
    if (p) A->free_(p);
    errno = 0;
    p = A->aligned_(64, huge[k]);
    CHECKF(p == NULL && errno == ENOMEM, "%s aligned(64, %#zx) = %p errno %d", A->name, huge[k], p, errno);
    errno = 0;
    p = A->aligned_(MiB, huge[k]);
    CHECKF(p == NULL && errno == ENOMEM, "%s aligned(1 MiB, %#zx) = %p errno %d", A->name, huge[k], p, errno);
    void *q = (void *)0x1234;
    int r = A->posix_memalign_(&q, 64, huge[k]);
    CHECKF(r == ENOMEM && q == (void *)0x1234, "%s posix_memalign(64, %#zx) = %d, *memptr %p", A->name,
           huge[k], r, q);
    errno = 0;
    p = A->calloc_(1, huge[k]);
    CHECKF(p == NULL && errno == ENOMEM, "%s calloc(1, %#zx) = %p errno %d", A->name, huge[k], p, errno);
    errno = 0;
    p = A->realloc_(NULL, huge[k]);
    CHECKF(p == NULL && errno == ENOMEM, "%s realloc(NULL, %#zx) = %p errno %d", A->name, huge[k], p, errno);
  }
  struct {
    size_t n, s;
  } mul[] = {{SIZE_MAX / 2 + 1, 2},
             {2, SIZE_MAX / 2 + 1},
             {SIZE_MAX, SIZE_MAX},
             {(size_t)1 << 32, (size_t)1 << 32},
             {(size_t)1 << 40, (size_t)1 << 30},
             {SIZE_MAX / 16 + 1, 16},
             {3, SIZE_MAX / 3 + 1}};
  for (size_t k = 0; k < sizeof mul / sizeof mul[0]; k++) {
    errno = 0;
    void *p = A->calloc_(mul[k].n, mul[k].s);
    CHECKF(p == NULL && errno == ENOMEM, "%s calloc(%#zx, %#zx) = %p errno %d", A->name, mul[k].n,
           mul[k].s, p, errno);
    errno = 0;
    p = A->reallocarray_(NULL, mul[k].n, mul[k].s);
    CHECKF(p == NULL && errno == ENOMEM, "%s reallocarray(NULL, %#zx, %#zx) = %p errno %d", A->name,
           mul[k].n, mul[k].s, p, errno);
  }
  /* a failed realloc leaves the old block intact (small, medium, large) */
  size_t olds[] = {24, 3000, 200000, 5 * MiB};
  for (size_t o = 0; o < sizeof olds / sizeof olds[0]; o++) {
    char *p = A->malloc_(olds[o]);
    REQUIRE(p);
    fill(p, olds[o], 11);
    for (size_t k = 0; k < nh; k++) {
      errno = 0;
      void *q = A->realloc_(p, huge[k]);
      CHECKF(q == NULL && errno == ENOMEM, "%s realloc(%zu-byte block, %#zx) = %p errno %d", A->name,
             olds[o], huge[k], q, errno);
      if (q) {
        p = q; /* should not happen; keep the test going */
        break;
      }
    }
    errno = 0;
    void *q = A->reallocarray_(p, (size_t)1 << 32, (size_t)1 << 32);
    CHECKF(q == NULL && errno == ENOMEM, "%s reallocarray(p, 2^32, 2^32) = %p errno %d", A->name, q, errno);
    CHECKF(hak_owns(p), "%s block no longer owned after failed realloc", A->name);
    CHECKF(verify(p, olds[o], olds[o], 11) == SIZE_MAX, "%s failed realloc damaged the %zu-byte block",
           A->name, olds[o]);
    A->free_(p);
  }
}

static void test_overflow_misc(void) {
  size_t bad[] = {SIZE_MAX, SIZE_MAX - 10, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1, (size_t)PTRDIFF_MAX};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    errno = 0;
    void *p = valloc(bad[k]);
    CHECKF(p == NULL && errno == ENOMEM, "valloc(%#zx) = %p errno %d", bad[k], p, errno);
    errno = 0;
    p = pvalloc(bad[k]);
    CHECKF(p == NULL && errno == ENOMEM, "pvalloc(%#zx) = %p errno %d", bad[k], p, errno);
    errno = 0;
    p = memalign(64, bad[k]);
    CHECKF(p == NULL && errno == ENOMEM, "memalign(64, %#zx) = %p errno %d", bad[k], p, errno);
    errno = 0;
    p = memalign(2 * MiB, bad[k]);
    CHECKF(p == NULL && errno == ENOMEM, "memalign(2 MiB, %#zx) = %p errno %d", bad[k], p, errno);
    errno = 0;
    p = __libc_pvalloc(bad[k]);
    CHECKF(p == NULL && errno == ENOMEM, "__libc_pvalloc(%#zx) = %p errno %d", bad[k], p, errno);
    errno = 0;
    p = aligned_alloc(64, bad[k]);
    CHECKF(p == NULL && errno == ENOMEM, "aligned_alloc(64, %#zx) = %p errno %d", bad[k], p, errno);
  }
}

static void test_errno(const struct api *A) {
  size_t sizes[] = {0, 16, 1000, 40000, 300000, 8 * MiB, 40 * MiB};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    for (int how = 0; how < 4; how++) {
      void *p = how == 3 ? A->aligned_(4096, sizes[k]) : A->malloc_(sizes[k]);
      REQUIRE(p);
      errno = 1234;
      switch (how) {
      case 0: A->free_(p); break;
      case 1: A->free_sized_(p, sizes[k]); break;
      case 2: free(p); break;
      case 3: A->free_aligned_sized_(p, 4096, sizes[k]); break;
      }
      CHECKF(errno == 1234, "%s free #%d of %zu bytes changed errno to %d", A->name, how, sizes[k], errno);
    }
  }
  errno = 1234;
  A->free_(NULL);
  CHECKF(errno == 1234, "%s free(NULL) changed errno", A->name);
  errno = 1234;
  A->free_sized_(NULL, 0);
  CHECKF(errno == 1234, "%s free_sized(NULL) changed errno", A->name);
  /* after hak_collect returns memory, the next frees must still preserve errno */
  void *ps[64];
  for (int i = 0; i < 64; i++) ps[i] = A->malloc_((size_t)(i + 1) * 3000);
  for (int i = 0; i < 64; i++) {
    errno = 1234;
    A->free_(ps[i]);
    CHECKF(errno == 1234, "%s free changed errno (block %d)", A->name, i);
    if (i == 32) hak_collect();
  }
  /* realloc(p, 0) frees: errno is not required to survive that, but it must not crash */
}

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

static void test_zero(const struct api *A) {
  enum { N = 1000 };
  void **v = malloc(N * sizeof *v);
  REQUIRE(v);
  for (int i = 0; i < N; i++) {
    v[i] = A->malloc_(0);
    CHECKF(v[i] != NULL, "%s malloc(0) returned NULL (#%d)", A->name, i);
    CHECKF(v[i] == NULL || (aligned_to(v[i], 16) && hak_owns(v[i])), "%s malloc(0) = %p", A->name, v[i]);
  }
  qsort(v, N, sizeof *v, cmp_ptr);
  int dups = 0;
  for (int i = 1; i < N; i++) dups += v[i] && v[i] == v[i - 1];
  CHECKF(dups == 0, "%s malloc(0) returned %d duplicate pointers", A->name, dups);
  for (int i = 0; i < N; i++) {
    size_t u = A->usable_(v[i]);
    if (u) memset(v[i], 0xEE, u);
  }
  for (int i = 0; i < N; i++) A->free_(v[i]);
  /* malloc(0) blocks can be grown */
  char *p = A->malloc_(0);
  REQUIRE(p);
  char *q = A->realloc_(p, 100);
  check_block(A, "realloc(malloc(0), 100)", q, 100, 16);
  A->free_(q);
  p = A->calloc_(0, 0);
  CHECK(p != NULL);
  A->free_(p);
  p = A->calloc_(0, 100);
  CHECK(p != NULL);
  A->free_(p);
  p = A->aligned_(64, 0);
  CHECK(p != NULL && aligned_to(p, 64));
  A->free_(p);
  free(v);
}

/* Many random blocks from every entry point: no two [p, p+usable) ranges overlap
 * and every block keeps its contents. */
enum { F_FREE, F_SIZED, F_ALIGNED_SIZED, F_HAK, F_LIBC, F_CFREE };
struct blk {
  unsigned char *p;
  size_t size, usable, align;
  unsigned id;
  int how;
};
static int cmp_blk(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const struct blk *)a)->p, y = (uintptr_t)((const struct blk *)b)->p;
  return x < y ? -1 : x > y;
}
static void alloc_blk(struct blk *b, unsigned long long *rs, unsigned id) {
  unsigned r = (unsigned)rng_below(rs, 1000);
  size_t size;
  if (r < 700) size = rng_below(rs, 257);
  else if (r < 900) size = 256 + rng_below(rs, 8 * KiB);
  else if (r < 997) size = 8 * KiB + rng_below(rs, 248 * KiB);
  else size = 256 * KiB + rng_below(rs, 4 * MiB);
  size_t align = 16;
  void *p = NULL;
  int fn = (int)rng_below(rs, 12);
  switch (fn) {
  case 0: p = calloc(1, size); break;
  case 1: align = (size_t)1 << rng_below(rs, 17); p = aligned_alloc(align, size); break;
  case 2: align = (size_t)1 << rng_below(rs, 14); p = memalign(align, size); break;
  case 3: align = (size_t)8 << rng_below(rs, 12); if (posix_memalign(&p, align, size)) p = NULL; break;
  case 4: p = realloc(NULL, size); break;
  case 5: p = realloc(malloc(8), size); break;
  case 6: p = hak_malloc(size); break;
  case 7: p = __libc_malloc(size); break;
  case 8:
    if (rng_below(rs, 20) == 0) {
      align = 4096;
      p = valloc(size);
      fn = 2; /* freed with plain free, like the memalign family */
    } else {
      p = malloc(size);
    }
    break;
  case 9: p = hak_calloc(size, 1); break;
  case 10: p = reallocarray(NULL, 1, size); break;
  default: p = malloc(size); break;
  }
  if (size == 0 && (fn == 4 || fn == 5 || fn == 10)) { /* realloc(x, 0) frees: nothing to track */
    free(p);
    p = malloc(0);
  }
  CHECKF(p != NULL, "alloc fn %d size %zu failed", fn, size);
  if (!p) p = malloc(1);
  REQUIRE(p);
  if (align < 16) align = 16;
  CHECKF(aligned_to(p, align), "fn %d: %p not %zu-aligned", fn, p, align);
  CHECKF(hak_owns(p), "fn %d: %p not owned", fn, p);
  b->p = p;
  b->size = size;
  b->align = align;
  b->usable = malloc_usable_size(p);
  CHECKF(b->usable >= size, "fn %d size %zu: usable %zu", fn, size, b->usable);
  b->id = id;
  b->how = fn == 1 ? (int)rng_below(rs, 2) * F_ALIGNED_SIZED : fn >= 1 && fn <= 3 ? F_FREE : (int)rng_below(rs, 6);
  if (b->how == F_ALIGNED_SIZED && fn != 1) b->how = F_FREE;
  memset(b->p, (int)(id * 7 + 1), b->usable);
  if (b->usable >= 8) memcpy(b->p, &b->id, sizeof b->id);
}
static size_t check_blk(const struct blk *b) {
  unsigned char c = (unsigned char)(b->id * 7 + 1);
  size_t start = 0;
  if (b->usable >= 8) {
    unsigned id;
    memcpy(&id, b->p, sizeof id);
    if (id != b->id) return 0;
    start = sizeof id;
  }
  size_t n = b->usable, step = n > 64 * KiB ? 97 : 1;
  for (size_t i = start; i < n; i += step)
    if (b->p[i] != c) return i;
  if (n && b->p[n - 1] != c) return n - 1;
  return SIZE_MAX;
}
static void free_blk(struct blk *b) {
  switch (b->how) {
  case F_SIZED: free_sized(b->p, b->size); break;
  case F_ALIGNED_SIZED: free_aligned_sized(b->p, b->align, b->size); break;
  case F_HAK: hak_free(b->p); break;
  case F_LIBC: __libc_free(b->p); break;
  case F_CFREE: cfree(b->p); break;
  default: free(b->p); break;
  }
  b->p = NULL;
}
static void check_no_overlap(struct blk *v, size_t n, const char *when) {
  qsort(v, n, sizeof *v, cmp_blk);
  size_t overlaps = 0;
  for (size_t i = 0; i + 1 < n; i++)
    if ((uintptr_t)v[i].p + v[i].usable > (uintptr_t)v[i + 1].p) {
      if (overlaps < 5)
        fprintf(stderr, "%s: overlap: [%p, +%zu) (size %zu) and %p (size %zu)\n", when, (void *)v[i].p,
                v[i].usable, v[i].size, (void *)v[i + 1].p, v[i + 1].size);
      overlaps++;
    }
  CHECKF(overlaps == 0, "%s: %zu overlapping blocks", when, overlaps);
  size_t corrupt = 0;
  for (size_t i = 0; i < n; i++) corrupt += check_blk(&v[i]) != SIZE_MAX;
  CHECKF(corrupt == 0, "%s: %zu blocks corrupted", when, corrupt);
}
static void test_overlap(void) {
  enum { N = 12000 };
  struct blk *v = calloc(N, sizeof *v);
  REQUIRE(v);
  unsigned long long rs = 777;
  for (unsigned i = 0; i < N; i++) alloc_blk(&v[i], &rs, i);
  check_no_overlap(v, N, "overlap round 1");
  /* free a random half, allocate again, check again */
  for (unsigned i = 0; i < N; i++)
    if (rng_below(&rs, 2)) {
      free_blk(&v[i]);
      alloc_blk(&v[i], &rs, N + i);
    }
  check_no_overlap(v, N, "overlap round 2");
  for (unsigned i = 0; i < N; i++) free_blk(&v[i]);
  free(v);
}

/* calloc returns zeroed memory even when it reuses dirty freed blocks. */
static void test_calloc(const struct api *A) {
  size_t sizes[] = {1,     8,     16,     24,     48,     64,      100,     128,     250,     500,
                    1000,  2048,  4000,   4096,   8000,   10000,   16384,   40000,   65536,   100000,
                    131072, 300000, 524288, MiB - 1, MiB, 2 * MiB + 1, 4 * MiB, 9 * MiB, 33 * MiB};
  void **v = malloc(256 * sizeof *v);
  REQUIRE(v);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    size_t s = sizes[k];
    int cnt = s <= 4096 ? 200 : s <= 300000 ? 24 : 3;
    for (int variant = 0; variant < 3; variant++) {
      for (int i = 0; i < cnt; i++) {
        v[i] = A->malloc_(s);
        REQUIRE(v[i]);
        memset(v[i], 0xAA, A->usable_(v[i]));
        if (variant == 2) { /* shrink in place (maybe), dirty block freed at its new size */
          void *q = A->realloc_(v[i], s / 2 + 1);
          REQUIRE(q);
          v[i] = q;
        }
      }
      for (int i = cnt - 1; i >= 0; i--) {
        if (variant == 1) A->free_sized_(v[i], s);
        else A->free_(v[i]);
      }
      for (int i = 0; i < cnt; i++) {
        size_t n = 1, sz = s;
        if (i % 3 == 1 && s % 8 == 0) { n = s / 8; sz = 8; }
        if (i % 3 == 2) { n = s; sz = 1; }
        unsigned char *p = A->calloc_(n, sz);
        CHECKF(p != NULL, "%s calloc(%zu, %zu) failed", A->name, n, sz);
        v[i] = p;
        if (!p) continue;
        size_t nz = 0, first = SIZE_MAX;
        for (size_t j = 0; j < s; j++)
          if (p[j]) {
            if (first == SIZE_MAX) first = j;
            nz++;
          }
        CHECKF(nz == 0, "%s calloc(%zu, %zu) after dirty free: %zu non-zero bytes, first at %zu", A->name,
               n, sz, nz, first);
      }
      for (int i = 0; i < cnt; i++) {
        if (v[i]) memset(v[i], 0xAA, A->usable_(v[i]));
        A->free_(v[i]);
      }
    }
  }
  free(v);
}

static void *thread_alloc(void *arg) {
  (void)arg;
  void *p = malloc(100);
  void *q = malloc(70000);
  free(p);
  return q; /* freed by the main thread */
}

static int stats_print_has(const char *text, const char *name, uint64_t *val) {
  char key[64];
  snprintf(key, sizeof key, "hakmem: %s ", name);
  const char *s = strstr(text, key);
  while (s && s != text && s[-1] != '\n') s = strstr(s + 1, key);
  if (!s) return 0;
  *val = strtoull(s + strlen(key), NULL, 10);
  return 1;
}

static void test_stats(void) {
  hak_stats_t s0, s1, s2, s3;
  hak_stats_get(&s0);
  enum { N = 100000 };
  void **v = malloc(N * sizeof *v);
  REQUIRE(v);
  for (int i = 0; i < N; i++) v[i] = malloc(40);
  hak_stats_get(&s1);
  CHECKF(s1.blocks_carved >= N, "blocks_carved %llu after %d live 40-byte blocks",
         (unsigned long long)s1.blocks_carved, N);
  for (int i = 0; i < N; i++) free(v[i]);
  free(v);
  CHECK(s1.os_mmap > 0);
  CHECK(s1.mapped_bytes > 0);
  CHECK(s1.mapped_peak >= s1.mapped_bytes);
  CHECK(s1.segments > 0);
  CHECK(s1.segments_peak >= s1.segments);
  CHECK(s1.pages_fresh > 0);
  CHECK(s1.malloc_generic > 0);
  CHECK(s1.heaps_created >= 1);
  CHECK(s1.heaps_live >= 1);
  CHECK(s1.heaps_live <= s1.heaps_created);
  CHECKF(s1.invalid_frees == 0, "invalid_frees %llu", (unsigned long long)s1.invalid_frees);
  CHECK(s1.large_cache_hits <= s1.large_allocs);

  void *big = malloc(64 * MiB);
  REQUIRE(big);
  hak_stats_get(&s2);
  CHECKF(s2.large_allocs > s1.large_allocs, "large_allocs did not count a 64 MiB block");
  CHECKF(s2.mapped_bytes >= 64 * MiB, "mapped_bytes %llu with a live 64 MiB block",
         (unsigned long long)s2.mapped_bytes);
  CHECK(s2.mapped_peak >= s2.mapped_bytes);
  free(big);

  pthread_t t;
  void *ret = NULL;
  REQUIRE(pthread_create(&t, NULL, thread_alloc, NULL) == 0);
  pthread_join(t, &ret);
  CHECK(ret && hak_owns(ret));
  free(ret);
  hak_stats_get(&s3);
  CHECKF(s3.heaps_created > s2.heaps_created, "heaps_created %llu -> %llu after a thread allocated",
         (unsigned long long)s2.heaps_created, (unsigned long long)s3.heaps_created);

  /* hak_stats_print: every field, one "hakmem: name value" line each */
  char path[] = "/tmp/hakmem-api-stats-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  unlink(path);
  hak_stats_print(fd);
  off_t len = lseek(fd, 0, SEEK_END);
  CHECK(len > 0);
  char *text = calloc(1, (size_t)len + 1);
  REQUIRE(text);
  CHECK(pread(fd, text, (size_t)len, 0) == len);
  close(fd);
  static const char *names[] = {"os_mmap",          "os_munmap",         "os_madvise",
                                "os_mremap",        "mapped_bytes",      "mapped_peak",
                                "purged_bytes",     "segments",          "segments_peak",
                                "segments_abandoned", "segments_reclaimed", "pages_fresh",
                                "blocks_carved",    "malloc_generic",    "large_allocs",
                                "large_cache_hits", "heaps_created",     "heaps_live",
                                "invalid_frees"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    uint64_t val = 0;
    CHECKF(stats_print_has(text, names[i], &val), "hak_stats_print has no line 'hakmem: %s N'", names[i]);
  }
  uint64_t carved = 0;
  if (stats_print_has(text, "blocks_carved", &carved))
    CHECKF(carved >= s3.blocks_carved, "printed blocks_carved %llu < %llu", (unsigned long long)carved,
           (unsigned long long)s3.blocks_carved);
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    CHECKF(strncmp(line, "hakmem: ", 8) == 0, "hak_stats_print line without 'hakmem: ' prefix: %.60s", line);
    if (!nl) break;
    line = nl + 1;
  }
  free(text);
}

static void test_collect(void) {
  enum { NB = 24 };
  char *big[NB];
  char *keep[300];
  /* small and medium blocks, half of them kept */
  for (int i = 0; i < 300; i++) {
    keep[i] = malloc((size_t)(i % 30 + 1) * 700);
    REQUIRE(keep[i]);
    fill(keep[i], (size_t)(i % 30 + 1) * 700, (unsigned)i);
  }
  for (int i = 0; i < 300; i += 2) {
    free(keep[i]);
    keep[i] = NULL;
  }
  for (int i = 0; i < NB; i++) {
    big[i] = malloc(4 * MiB + (size_t)i * 4096);
    REQUIRE(big[i]);
    memset(big[i], i + 1, 4 * MiB + (size_t)i * 4096);
  }
  size_t rss_full = rss_bytes();
  hak_stats_t s0, s1;
  hak_stats_get(&s0);
  for (int i = 0; i < NB; i++) free(big[i]);
  hak_collect();
  hak_stats_get(&s1);
  size_t rss_after = rss_bytes();
  uint64_t given_back = (s0.mapped_bytes > s1.mapped_bytes ? s0.mapped_bytes - s1.mapped_bytes : 0) +
                        (s1.purged_bytes - s0.purged_bytes);
  CHECKF(given_back >= 64 * MiB,
         "after freeing 96 MiB of large blocks and hak_collect: mapped %llu -> %llu, purged +%llu",
         (unsigned long long)s0.mapped_bytes, (unsigned long long)s1.mapped_bytes,
         (unsigned long long)(s1.purged_bytes - s0.purged_bytes));
  CHECKF(rss_after + 64 * MiB <= rss_full, "RSS %zu MiB -> %zu MiB after freeing 96 MiB and hak_collect",
         rss_full / MiB, rss_after / MiB);
  for (int i = 1; i < 300; i += 2)
    CHECKF(verify(keep[i], (size_t)(i % 30 + 1) * 700, (size_t)(i % 30 + 1) * 700, (unsigned)i) == SIZE_MAX,
           "block %d damaged by hak_collect", i);
  /* the allocator still works after collecting, and the kept blocks can be freed */
  for (int i = 0; i < 300; i += 2) {
    keep[i] = malloc(333);
    CHECK(keep[i] && hak_owns(keep[i]));
    memset(keep[i], 1, 333);
  }
  hak_collect();
  hak_collect();
  for (int i = 0; i < 300; i++) free(keep[i]);
  void *p = malloc(10 * MiB);
  CHECK(p && hak_owns(p));
  memset(p, 3, 10 * MiB);
  free(p);
  hak_collect();

  /* large-block churn without hak_collect: mapped memory stays bounded */
  unsigned long long rs = 99;
  for (int i = 0; i < 100; i++) {
    size_t n = MiB + rng_below(&rs, 63 * MiB);
    char *q = malloc(n);
    REQUIRE(q);
    q[0] = 1;
    q[n - 1] = 2;
    free(q);
  }
  hak_stats_t s2;
  hak_stats_get(&s2);
  CHECKF(s2.mapped_bytes <= 1024 * MiB, "after 100 malloc/free of 1..64 MiB blocks, %llu MiB stay mapped",
         (unsigned long long)(s2.mapped_bytes / MiB));
}

static char static_buf[256] __attribute__((aligned(64)));

static void test_owns(void) {
  char stack_buf[64] __attribute__((aligned(16)));
  CHECK(hak_owns(NULL) == 0);
  CHECK(hak_owns(launder(stack_buf)) == 0);
  CHECK(hak_owns(launder(static_buf)) == 0);
  CHECK(hak_owns(launder(static_buf + 64)) == 0);
  CHECK(hak_owns((void *)(uintptr_t)test_owns) == 0);
  void *page = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(page != MAP_FAILED);
  CHECK(hak_owns(page) == 0);
  CHECK(hak_owns((char *)page + 4096) == 0);
  munmap(page, 1 << 16);
  CHECK(hak_owns(page) == 0); /* now unmapped: must not crash */
  uintptr_t weird[] = {1, 8, 16, 4096, 0x10000, 0x7fffffffffff, 0x7ffffffff000, 0x7fff00000000,
                       0x400000000000, 0x100000000000, 0xffff800000000000, UINTPTR_MAX - 15, UINTPTR_MAX,
                       (uintptr_t)1 << 47, ((uintptr_t)1 << 47) - 16};
  for (size_t k = 0; k < sizeof weird / sizeof weird[0]; k++)
    CHECKF(hak_owns((void *)weird[k]) == 0, "hak_owns(%#lx) != 0", (unsigned long)weird[k]);
  char *p = malloc(64);
  REQUIRE(p);
  CHECK(hak_owns(p) == 1);
  CHECK(hak_owns(p + 8) == 0);
  CHECK(hak_owns(p + 1) == 0);
  free(p);
  char *big = malloc(8 * MiB);
  REQUIRE(big);
  CHECK(hak_owns(big) == 1);
  CHECK(hak_owns(big + 8) == 0);
  CHECK(hak_owns(big + 4096) == 0);
  CHECK(hak_owns(big + MiB) == 0);
  free(big);
  /* a huge block freed and returned to the OS: hak_owns on its old address must not crash */
  char *huge = malloc(64 * MiB);
  REQUIRE(huge);
  free(huge);
  hak_collect();
  (void)hak_owns(huge);
  (void)hak_owns(huge + 32 * MiB);
  /* aligned blocks are owned */
  for (size_t a = 16; a <= 4 * MiB; a *= 4) {
    void *q = aligned_alloc(a, 100);
    CHECKF(q && hak_owns(q) == 1, "hak_owns(aligned_alloc(%zu, 100)) != 1", a);
    free(q);
  }
}

static void test_misc(void) {
  const char *v = hak_version();
  REQUIRE(v != NULL);
  CHECKF(strncmp(v, "hakmem ", 7) == 0, "hak_version() = \"%s\"", v);
  char want[64];
  snprintf(want, sizeof want, "hakmem %d.%d.%d", HAKMEM_VERSION_MAJOR, HAKMEM_VERSION_MINOR, HAKMEM_VERSION_PATCH);
  CHECKF(strcmp(v, want) == 0, "hak_version() = \"%s\", header says \"%s\"", v, want);
  CHECK(malloc_usable_size(NULL) == 0);
  CHECK(hak_usable_size(NULL) == 0);
  free(NULL);
  hak_free(NULL);
  cfree(NULL);
  __libc_free(NULL);
  free_sized(NULL, 0);
  free_sized(NULL, 100);
  free_aligned_sized(NULL, 64, 100);
  hak_free_sized(NULL, 10);
  hak_free_aligned_sized(NULL, 4096, 10);
  /* blocks cross between every API: allocate with one, free with another */
  void *(*allocs[])(size_t) = {malloc, hak_malloc, __libc_malloc, valloc};
  void (*frees[])(void *) = {free, hak_free, __libc_free, cfree};
  size_t sizes[] = {10, 5000, 200000, 6 * MiB};
  for (int a = 0; a < 4; a++)
    for (int f = 0; f < 4; f++)
      for (int s = 0; s < 4; s++) {
        void *p = allocs[a](sizes[s]);
        CHECKF(p && hak_owns(p), "alloc #%d(%zu) = %p", a, sizes[s], p);
        if (p) memset(p, 1, sizes[s]);
        frees[f](p);
      }
  /* realloc/usable between APIs */
  char *p = hak_malloc(100);
  REQUIRE(p);
  fill(p, 100, 2);
  p = realloc(p, 1000);
  REQUIRE(p);
  CHECK(verify(p, 100, 100, 2) == SIZE_MAX);
  p = __libc_realloc(p, 100000);
  REQUIRE(p);
  CHECK(verify(p, 100, 100, 2) == SIZE_MAX);
  p = hak_realloc(p, 10);
  REQUIRE(p);
  CHECK(verify(p, 10, 100, 2) == SIZE_MAX);
  CHECK(hak_usable_size(p) == malloc_usable_size(p));
  free_sized(p, 10);
  p = __libc_calloc(10, 10);
  CHECK(p && hak_owns(p));
  hak_free(p);
}

/* -------------------------------------------------------------------- main */

static void run_section(const char *name) {
  if (!strcmp(name, "misc")) test_misc();
  else if (!strcmp(name, "owns")) test_owns();
  else if (!strcmp(name, "stats")) test_stats();
  else if (!strcmp(name, "valloc")) test_valloc();
  else if (!strcmp(name, "overlap")) test_overlap();
  else if (!strcmp(name, "collect")) test_collect();
  else if (!strcmp(name, "overflow")) {
    for (size_t i = 0; i < NAPIS; i++) test_overflow(&APIS[i]);
    test_overflow_misc();
  } else {
    static const struct {
      const char *name;
      void (*fn)(const struct api *);
    } per_api[] = {{"sizes", test_sizes}, {"realloc", test_realloc}, {"align", test_align},
                   {"errno", test_errno}, {"zero", test_zero},       {"calloc", test_calloc}};
    for (size_t k = 0; k < sizeof per_api / sizeof per_api[0]; k++)
      if (!strcmp(name, per_api[k].name)) {
        for (size_t i = 0; i < NAPIS; i++) per_api[k].fn(&APIS[i]);
        return;
      }
    fprintf(stderr, "api: unknown section '%s'\n", name);
    __atomic_add_fetch(&check_failures_, 1, __ATOMIC_RELAXED);
  }
}

static const char *const SECTIONS[] = {"misc",     "owns",  "stats", "sizes",  "realloc", "align",  "valloc",
                                       "overflow", "errno", "zero",  "calloc", "overlap", "collect"};

int main(int argc, char **argv) {
  /* Is the override active at all? Everything else is meaningless if not. */
  void *first = malloc(1);
  REQUIRE(first != NULL);
  REQUIRE(hak_owns(first));
  free(first);
  first = launder(__libc_malloc(1));
  REQUIRE(hak_owns(first));
  __libc_free(first);

  if (argc > 1) { /* the named sections, in this process (for a debugger) */
    for (int i = 1; i < argc; i++) run_section(argv[i]);
    return check_exit("api");
  }
  /* Every section in a child process of its own, so that one crash does not
   * hide the results of the others. */
  for (size_t k = 0; k < sizeof SECTIONS / sizeof SECTIONS[0]; k++) {
    pid_t pid = check_fork();
    if (pid == 0) {
      char name[64];
      snprintf(name, sizeof name, "api %s", SECTIONS[k]);
      run_section(SECTIONS[k]);
      _exit(check_exit(name));
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFSIGNALED(st)) {
      CHECKF(0, "section '%s' killed by signal %d (%s)", SECTIONS[k], WTERMSIG(st), strsignal(WTERMSIG(st)));
    } else {
      CHECKF(WEXITSTATUS(st) == 0, "section '%s' failed", SECTIONS[k]);
    }
  }
  return check_exit("api");
}
