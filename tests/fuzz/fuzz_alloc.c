/* fuzz_alloc.c — a fuzzing harness: the input is a program of allocation
 * calls, run on 1-4 threads against a shadow model of what must be true.
 *
 * Built two ways from this one file (tests/fuzz/fuzz.mk):
 *   - fuzz_alloc: libFuzzer + ASan + UBSan, the library built with clang,
 *     coverage instrumentation and HAK_DEBUG=2. ASan owns `malloc` in that
 *     process (it serves libFuzzer and nothing else), so hakmem is called by
 *     its hak_* names and by the libc names of src/override.c renamed to
 *     hakfz_* (FUZZ_RENAMED: the exact code a preloaded program calls).
 *   - replay_alloc: gcc, linked with -lhakmem, libc names as they are; main()
 *     in replay.c feeds it the committed corpus and every input that once
 *     failed (make test).
 * Every block is checked with hak_owns, so hakmem, not another allocator,
 * served the run. The harness itself allocates nothing (static tables only).
 *
 * Input: byte 0 = 1 + number of extra threads (low 2 bits); then operations
 * until the input ends, each an opcode byte and its argument bytes (a missing
 * byte reads as 0). The opcode byte: bits 0-3 the operation, 4-5 the thread
 * that performs it (thread 0 is the fuzzer's own thread; others are started
 * on first use and handed the operation synchronously, so a sequence of
 * operations runs in the same order whatever the scheduler does), bit 6 libc
 * name instead of hak_*, bit 7 a variant bit.
 *
 *   ALLOC   slot kind sizesel size(3) align   malloc, calloc, realloc(NULL),
 *                                      reallocarray(NULL), aligned_alloc,
 *                                      posix_memalign, memalign, valloc, pvalloc
 *   FREE    slot variant               free, free_sized, realloc(p, 0),
 *                                      free_aligned_sized
 *   REALLOC slot variant sizesel size(3) realloc / reallocarray
 *   CHECK   slot                       contents, usable size, hak_owns
 *   BURST   group count sizesel size(3) kind   up to 256 blocks into a group
 *   UNBURST group order variant        free a group, in some order
 *   COLLECT pad                        hak_collect() / malloc_trim(pad)
 *   EXIT                               the thread exits with its blocks live
 *   PHASE   seed(4) steps exits        all threads run generated operations on
 *                                      their share of the slots at the same time
 *   VERIFY                             check every live block
 *   BAD     variant slot               requests that must fail cleanly
 * A slot that is full when something is allocated into it is freed first (by
 * the same thread); any thread may free or realloc any block, so most frees of
 * a multi-thread input are cross-thread. When the input ends every thread
 * exits (its blocks still live), then thread 0 frees everything and calls
 * hak_collect(); the next input starts from an empty model.
 *
 * The model: every live block's pointer, requested size, usable size,
 * alignment and id. A block is filled with a pattern of its id (all of its
 * usable size up to 64 KiB; above that the first and last 4 KiB and one word
 * every 64 KiB) and checked before every free, realloc and VERIFY. Checked on
 * each allocation: not NULL, alignment, usable >= request, hak_owns, no
 * overlap with any live block, calloc memory zero; on each realloc the
 * preserved prefix; on each free that errno is preserved. The harness never
 * reads or writes a block it has freed.
 *
 * A failed check prints "fuzz_alloc: FAIL ..." with the operation and
 * aborts. FUZZ_TRACE=1 prints every operation as it runs.
 *
 * The format is what gives the committed inputs (tests/fuzz/corpus, written
 * by seeds.py, and tests/fuzz/regress) their meaning: a change to it must
 * keep them meaningful (add operations at the end of a byte's range) or
 * rewrite them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"

/* ---- the entry points under test ------------------------------------------ */
#ifdef FUZZ_RENAMED
#define LIBC(f) hakfz_##f
void *hakfz_malloc(size_t size);
void *hakfz_calloc(size_t count, size_t size);
void *hakfz_realloc(void *p, size_t size);
void *hakfz_reallocarray(void *p, size_t count, size_t size);
void hakfz_free(void *p);
int hakfz_posix_memalign(void **out, size_t alignment, size_t size);
void *hakfz_aligned_alloc(size_t alignment, size_t size);
void *hakfz_memalign(size_t alignment, size_t size);
void *hakfz_valloc(size_t size);
void *hakfz_pvalloc(size_t size);
size_t hakfz_malloc_usable_size(void *p);
int hakfz_malloc_trim(size_t pad);
#else
#define LIBC(f) f
#endif
void LIBC(free_sized)(void *p, size_t size);
void LIBC(free_aligned_sized)(void *p, size_t alignment, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

#define MAX_THREADS 4
#define NSINGLE 256                         /* slots 0..255: one block each */
#define NGROUPS 15                          /* then 15 groups of 256 slots */
#define GROUP 256
#define NSLOTS (NSINGLE + NGROUPS * GROUP)  /* 4096 */
#define DENSE_FULL (1 * KiB)                /* blocks up to this are filled whole */
#define DENSE_MAX (64 * KiB)                /* up to this, every 64th byte; budgeted by bytes */
#define SPARSE_STEP (64 * KiB)
#define DENSE_BUDGET (16 * MiB)             /* live bytes filled whole, at most */
#define SPARSE_BUDGET 48                    /* live blocks above DENSE_MAX, at most */
#define BURST_BYTES (1 * MiB)               /* one burst allocates at most this */
#define HUGE_MAX (8 * MiB)

enum { OP_ALLOC, OP_FREE, OP_REALLOC, OP_CHECK, OP_BURST, OP_UNBURST, OP_COLLECT, OP_EXIT, OP_PHASE, OP_VERIFY,
       OP_BAD, OP_END };
/* opcode byte bits 0-3 -> operation: allocation and free weigh more */
static const uint8_t op_of_code[16] = {OP_ALLOC, OP_ALLOC, OP_ALLOC, OP_FREE,  OP_FREE,    OP_REALLOC,
                                       OP_REALLOC, OP_CHECK, OP_BURST, OP_UNBURST, OP_COLLECT, OP_EXIT,
                                       OP_PHASE, OP_VERIFY, OP_BAD, OP_ALLOC};
static const char *const op_name[] = {"ALLOC", "FREE",  "REALLOC", "CHECK", "BURST", "UNBURST",
                                      "COLLECT", "EXIT", "PHASE", "VERIFY", "BAD", "END"};

enum { K_MALLOC, K_CALLOC, K_REALLOC_NULL, K_REALLOCARRAY_NULL, K_ALIGNED_ALLOC, K_POSIX_MEMALIGN, K_MEMALIGN,
       K_VALLOC, K_PVALLOC, K_COUNT };
static const char *const kind_name[] = {"malloc", "calloc", "realloc(NULL)", "reallocarray(NULL)", "aligned_alloc",
                                        "posix_memalign", "memalign", "valloc", "pvalloc"};

typedef struct op_s {
  uint8_t code, thread, libc, flag;
  uint32_t a, b, c, d, e; /* arguments, by operation */
} op_t;

typedef struct slot_s {
  uint8_t *p;      /* NULL: empty */
  size_t req;      /* size asked for */
  size_t usable;   /* hak_usable_size when allocated */
  size_t align;    /* alignment promised */
  uint64_t id;     /* seeds the pattern */
  uint8_t kind;    /* K_* */
  uint8_t thread;  /* thread that allocated it */
} slot_t;

static slot_t slots[NSLOTS];

typedef struct worker_s {
  pthread_t tid;
  bool running;
  sem_t go, done;
  const op_t *op;
  const char *desc; /* of op, for failure messages */
  long index;
} worker_t;

static worker_t workers[MAX_THREADS]; /* [0] is the fuzzer's thread: unused */
static int nthreads;
static bool trace;
static uint64_t inputs_run;
static _Atomic(uint64_t) next_id;
static _Atomic(size_t) dense_bytes; /* budget accounting */
static _Atomic(int) sparse_blocks;
static _Atomic(uint64_t) allocations; /* blocks handed out, over all inputs */

/* Per thread: what it is doing, for failure messages; whether it runs a phase
 * (then the overlap index is not maintained until the phase ends). */
static __thread int self_id;
static __thread bool in_phase;
static __thread long op_index;
static __thread const char *op_desc = "";
static __thread unsigned phase_step;

/* ---- failure ------------------------------------------------------------------ */
static _Noreturn __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...) {
  char msg[1024];
  char where[48] = "";
  if (in_phase) snprintf(where, sizeof where, ", its step %u on this thread", phase_step);
  int n = snprintf(msg, sizeof msg, "fuzz_alloc: FAIL thread %d, op #%ld %s%s: ", self_id, op_index, op_desc, where);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof msg) n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof msg - 1) n = (int)sizeof msg - 2;
  msg[n++] = '\n';
  if (write(2, msg, (size_t)n) < 0) { /* nothing better to do */ }
  abort();
}

#define REQUIRE(c, ...) do { if (!(c)) fail(__VA_ARGS__); } while (0)

/* ---- patterns ------------------------------------------------------------------ */
static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27; x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
/* the pattern word at offset off (a multiple of 8) of block id */
static inline uint64_t pat_word(uint64_t base, size_t off) { return base ^ ((uint64_t)off * 0x9E3779B97F4A7C15ull); }
static inline uint8_t pat_byte(uint64_t base, size_t off) { return (uint8_t)(pat_word(base, off & ~(size_t)7) >> ((off & 7) * 8)); }

static void fill_range(uint8_t *p, uint64_t id, size_t from, size_t to) {
  uint64_t base = mix64(id);
  size_t o = from;
  for (; o < to && (o & 7); o++) p[o] = pat_byte(base, o);
  for (; o + 8 <= to; o += 8) {
    uint64_t w = pat_word(base, o);
    memcpy(p + o, &w, 8);
  }
  for (; o < to; o++) p[o] = pat_byte(base, o);
}

/* First offset in [from, to) that does not hold the pattern (zero: holds
 * zero), or SIZE_MAX. */
static size_t check_range(const uint8_t *p, uint64_t id, bool zero, size_t from, size_t to) {
  uint64_t base = mix64(id);
  size_t o = from;
  for (; o < to && (o & 7); o++)
    if (p[o] != (zero ? 0 : pat_byte(base, o))) return o;
  for (; o + 8 <= to; o += 8) {
    uint64_t w;
    memcpy(&w, p + o, 8);
    if (w != (zero ? 0 : pat_word(base, o))) {
      for (size_t k = o; k < o + 8; k++)
        if (p[k] != (zero ? 0 : pat_byte(base, k))) return k;
    }
  }
  for (; o < to; o++)
    if (p[o] != (zero ? 0 : pat_byte(base, o))) return o;
  return SIZE_MAX;
}

/* The bytes of a block of `usable` bytes that the harness fills and checks:
 * all of them up to 1 KiB; up to 64 KiB the first and last 256 bytes and
 * one word every 64 bytes; above, the first and last 4 KiB and one word every
 * 64 KiB. (Enough to catch overlaps, lost data and stray link words, at a
 * cost that lets the fuzzer run hundreds of inputs a second.)
 * Range k (k = 0, 1, ...) -> [*from, *to); false past the last one. */
static bool block_range(size_t usable, size_t k, size_t *from, size_t *to) {
  if (usable <= DENSE_FULL) {
    *from = 0;
    *to = usable;
    return k == 0;
  }
  size_t edge = usable <= DENSE_MAX ? 256 : 4096, step = usable <= DENSE_MAX ? 64 : SPARSE_STEP;
  size_t tail = (usable - edge) & ~(size_t)7;
  size_t first = (edge + step - 1) / step;  /* words at step * j, first <= j <= last */
  size_t last = (tail - 8) / step;
  if (k == 0) { *from = 0; *to = edge; return true; }
  if (first + k - 1 <= last) { *from = step * (first + k - 1); *to = *from + 8; return true; }
  if (k == (last >= first ? last - first + 1 : 0) + 1) { *from = tail; *to = usable; return true; }
  return false;
}

static void fill_block(uint8_t *p, uint64_t id, size_t usable) {
  size_t from, to;
  for (size_t k = 0; block_range(usable, k, &from, &to); k++) fill_range(p, id, from, to);
}

/* Check the filled bytes of a block laid out for `usable` bytes, up to
 * `limit`; SIZE_MAX if all hold the pattern (or zero). */
static size_t check_block(const uint8_t *p, uint64_t id, size_t usable, size_t limit, bool zero) {
  size_t from, to;
  for (size_t k = 0; block_range(usable, k, &from, &to); k++) {
    if (from >= limit) break;
    size_t bad = check_range(p, id, zero, from, to < limit ? to : limit);
    if (bad != SIZE_MAX) return bad;
  }
  return SIZE_MAX;
}

static void verify_slot(const slot_t *s, const char *when) {
  size_t bad = check_block(s->p, s->id, s->usable, s->usable, false);
  if (bad != SIZE_MAX) {
    uint8_t want = pat_byte(mix64(s->id), bad);
    fail("%s: block %p (id %llu, %s of %zu, usable %zu, by thread %d) corrupt at offset %zu: %#x, want %#x", when,
         (void *)s->p, (unsigned long long)s->id, kind_name[s->kind], s->req, s->usable, s->thread, bad, s->p[bad],
         want);
  }
}

/* ---- no two live blocks overlap -------------------------------------------------- */
/* Live blocks as [p, p + usable) intervals in a treap keyed by address (the
 * nodes are the slots), kept up to date by the synchronous operations and
 * rebuilt, with every neighbour checked, after a concurrent phase. */
#define NIL UINT32_MAX
static uint32_t tr_root = NIL, tr_left[NSLOTS], tr_right[NSLOTS];
static size_t tr_count;

static inline uintptr_t tr_key(uint32_t k) { return (uintptr_t)slots[k].p; }
static inline uint32_t tr_prio(uint32_t k) { return (uint32_t)mix64(k + 1); }

static _Noreturn void overlap_fail(uint32_t a, uint32_t b) {
  const slot_t *s = &slots[a], *t = &slots[b];
  fail("live blocks overlap: %p+%zu (id %llu, %s of %zu by thread %d) and %p+%zu (id %llu, %s of %zu by thread %d)",
       (void *)s->p, s->usable, (unsigned long long)s->id, kind_name[s->kind], s->req, s->thread, (void *)t->p,
       t->usable, (unsigned long long)t->id, kind_name[t->kind], t->req, t->thread);
}

static uint32_t tr_insert_at(uint32_t n, uint32_t k) {
  if (n == NIL) {
    tr_left[k] = tr_right[k] = NIL;
    return k;
  }
  if (tr_key(k) < tr_key(n)) {
    tr_left[n] = tr_insert_at(tr_left[n], k);
    if (tr_prio(tr_left[n]) > tr_prio(n)) { /* rotate right */
      uint32_t l = tr_left[n];
      tr_left[n] = tr_right[l];
      tr_right[l] = n;
      return l;
    }
  } else {
    tr_right[n] = tr_insert_at(tr_right[n], k);
    if (tr_prio(tr_right[n]) > tr_prio(n)) { /* rotate left */
      uint32_t r = tr_right[n];
      tr_right[n] = tr_left[r];
      tr_left[r] = n;
      return r;
    }
  }
  return n;
}

static uint32_t tr_merge(uint32_t a, uint32_t b) { /* every key of a < every key of b */
  if (a == NIL) return b;
  if (b == NIL) return a;
  if (tr_prio(a) > tr_prio(b)) {
    tr_right[a] = tr_merge(tr_right[a], b);
    return a;
  }
  tr_left[b] = tr_merge(a, tr_left[b]);
  return b;
}

static uint32_t tr_remove_at(uint32_t n, uint32_t k) {
  REQUIRE(n != NIL, "harness: block of slot %u missing from the overlap index", k);
  if (n == k) return tr_merge(tr_left[n], tr_right[n]);
  if (tr_key(k) < tr_key(n)) tr_left[n] = tr_remove_at(tr_left[n], k);
  else tr_right[n] = tr_remove_at(tr_right[n], k);
  return n;
}

/* Enter slot k's block; it must not overlap its neighbours. */
static void iv_insert(uint32_t k) {
  uintptr_t lo = tr_key(k), hi = lo + slots[k].usable;
  uint32_t pred = NIL, succ = NIL;
  for (uint32_t n = tr_root; n != NIL;) {
    if (tr_key(n) < lo) { pred = n; n = tr_right[n]; }
    else { succ = n; n = tr_left[n]; }
  }
  if (pred != NIL && tr_key(pred) + slots[pred].usable > lo) overlap_fail(pred, k);
  if (succ != NIL && tr_key(succ) < hi) overlap_fail(k, succ);
  tr_root = tr_insert_at(tr_root, k);
  tr_count++;
}

static void iv_remove(uint32_t k) {
  tr_root = tr_remove_at(tr_root, k);
  tr_count--;
}

static uint32_t sorted[NSLOTS];
static int slot_cmp(const void *a, const void *b) {
  uintptr_t x = tr_key(*(const uint32_t *)a), y = tr_key(*(const uint32_t *)b);
  return x < y ? -1 : x > y;
}

static void iv_rebuild(void) {
  size_t n = 0;
  for (uint32_t k = 0; k < NSLOTS; k++)
    if (slots[k].p) sorted[n++] = k;
  qsort(sorted, n, sizeof sorted[0], slot_cmp);
  for (size_t i = 1; i < n; i++)
    if (tr_key(sorted[i - 1]) + slots[sorted[i - 1]].usable > tr_key(sorted[i])) overlap_fail(sorted[i - 1], sorted[i]);
  tr_root = NIL;
  tr_count = 0;
  for (size_t i = 0; i < n; i++) iv_insert(sorted[i]);
}

/* ---- sizes ------------------------------------------------------------------------ */
/* The allocator's size classes (16..128 by 16, then 4 per power of two up to
 * 512 KiB): the sizes next to them are where off-by-ones live. */
static size_t class_size(unsigned c) {
  if (c <= 8) return (size_t)c * 16;
  unsigned g = (c - 9) / 4, k = (c - 9) % 4 + 1;
  return ((size_t)128 << g) / 4 * (4 + k);
}

static size_t pick_size(unsigned sel, uint32_t r) {
  switch (sel % 16) {
  case 0: case 1: case 2: case 3: case 4: return r % 129;
  case 5: case 6: case 7: return 129 + r % 896;
  case 8: case 9: return 1025 + r % 7168;
  case 10: return 8193 + r % (56 * KiB);
  case 11: case 12: return class_size(1 + r % 56) + (r >> 8) % 3 - 1;
  case 13: return 64 * KiB + 1 + r % (448 * KiB);
  case 14: return ((size_t)1 << ((r >> 2) % 24)) + (r & 3) - 1; /* powers of two, +-1 */
  default: return 512 * KiB + 1 + r % (HUGE_MAX - 512 * KiB);
  }
}

/* alignment for the aligned kinds: mostly up to 4 KiB, sometimes up to 8 MiB */
static size_t pick_align(unsigned a) {
  if ((a >> 5) == 0) return (size_t)1 << (a % 24);
  return (size_t)1 << (a % 13);
}

/* Keep the live memory bounded: over budget, a request becomes small. */
static size_t budget(size_t size) {
  if (size <= DENSE_MAX) {
    if (atomic_load_explicit(&dense_bytes, memory_order_relaxed) + size > DENSE_BUDGET) return size % 1024;
  } else if (atomic_load_explicit(&sparse_blocks, memory_order_relaxed) >= SPARSE_BUDGET) {
    return size % 1024;
  }
  return size;
}
static void budget_add(const slot_t *s, int sign) {
  if (s->usable <= DENSE_MAX) atomic_fetch_add(&dense_bytes, (size_t)((ptrdiff_t)sign * (ptrdiff_t)s->usable));
  else atomic_fetch_add(&sparse_blocks, sign);
}

/* ---- one block ---------------------------------------------------------------------- */
static size_t usable_of(bool libc, void *p) { return libc ? LIBC(malloc_usable_size)(p) : hak_usable_size(p); }

/* Validate a block just handed out and enter it in the model, filled with
 * the pattern of id (0: a new id). */
static void block_adopt(uint32_t k, uint8_t *p, size_t req, size_t align, uint8_t kind, bool libc, bool zero,
                        uint64_t id) {
  slot_t *s = &slots[k];
  REQUIRE(p != NULL, "%s(%zu, alignment %zu) returned NULL (errno %d)", kind_name[kind], req, align, errno);
  REQUIRE(((uintptr_t)p & (align - 1)) == 0, "%s(%zu) = %p is not %zu-aligned", kind_name[kind], req, (void *)p, align);
  REQUIRE(hak_owns(p) == 1, "hak_owns(%p) = 0 for a block %s(%zu) just returned: not hakmem's", (void *)p,
          kind_name[kind], req);
  size_t u = usable_of(libc, p);
  REQUIRE(u >= req, "usable size %zu < %zu requested (%s, %p)", u, req, kind_name[kind], (void *)p);
  REQUIRE(u == usable_of(!libc, p), "malloc_usable_size and hak_usable_size disagree on %p", (void *)p);
  if (zero) {
    size_t bad = check_block(p, 0, u, req, true);
    REQUIRE(bad == SIZE_MAX, "%s(%zu) = %p: byte %zu is %#x, not zero", kind_name[kind], req, (void *)p, bad, p[bad]);
  }
  s->p = p;
  s->req = req;
  s->usable = u;
  s->align = align;
  s->id = id ? id : atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
  s->kind = kind;
  s->thread = (uint8_t)self_id;
  fill_block(p, s->id, u);
  if (trace)
    fprintf(stderr, "  t%d slot %u: %s %s(%zu, align %zu) = %p, usable %zu, id %llu\n", self_id, k, libc ? "libc" : "hak",
            kind_name[kind], req, align, (void *)p, u, (unsigned long long)s->id);
  budget_add(s, 1);
  atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
  if (!in_phase) iv_insert(k);
}

static void block_free(uint32_t k, unsigned variant, bool libc);

/* Allocate into slot k (freeing what it holds first). */
static void block_alloc(uint32_t k, unsigned kind, size_t size, unsigned align_sel, bool libc) {
  if (slots[k].p) block_free(k, 0, libc);
  kind %= K_COUNT;
  size = budget(size);
  size_t align = 16;
  void *p = NULL;
  bool zero = false;
  switch (kind) {
  case K_MALLOC: p = libc ? LIBC(malloc)(size) : hak_malloc(size); break;
  case K_CALLOC: {
    size_t n = (size_t)1 << (align_sel % 4), each = (size + n - 1) / n; /* n * each >= size */
    size = n * each;
    p = libc ? LIBC(calloc)(n, each) : hak_calloc(n, each);
    zero = true;
    break;
  }
  case K_REALLOC_NULL: p = libc ? LIBC(realloc)(NULL, size) : hak_realloc(NULL, size); break;
  case K_REALLOCARRAY_NULL: {
    size_t n = (size_t)1 << (align_sel % 4), each = (size + n - 1) / n;
    size = n * each;
    p = libc ? LIBC(reallocarray)(NULL, n, each) : hak_reallocarray(NULL, n, each);
    break;
  }
  case K_ALIGNED_ALLOC:
    align = pick_align(align_sel);
    p = libc ? LIBC(aligned_alloc)(align, size) : hak_aligned_alloc(align, size);
    break;
  case K_POSIX_MEMALIGN: {
    align = pick_align(align_sel);
    if (align < sizeof(void *)) align = sizeof(void *);
    void *out = (void *)(uintptr_t)0x5a5a;
    int rc = libc ? LIBC(posix_memalign)(&out, align, size) : hak_posix_memalign(&out, align, size);
    REQUIRE(rc == 0, "posix_memalign(%zu, %zu) = %d", align, size, rc);
    p = out;
    break;
  }
  case K_MEMALIGN: {
    /* any alignment: memalign rounds it up to a power of two (hak_*: none, so
     * aligned_alloc with the rounded one) */
    size_t a = align_sel % 3 == 0 ? 1 + (size_t)align_sel * 37 % 5000 : pick_align(align_sel);
    align = 1;
    while (align < a) align <<= 1;
    p = libc ? LIBC(memalign)(a, size) : hak_aligned_alloc(align, size);
    break;
  }
  case K_VALLOC:
    align = 4096;
    p = libc ? LIBC(valloc)(size) : hak_aligned_alloc(4096, size);
    break;
  default: /* K_PVALLOC: the size rounds up to whole pages */
    align = 4096;
    if (libc) p = LIBC(pvalloc)(size);
    else p = hak_aligned_alloc(4096, size);
    size = libc ? (size + 4095) / 4096 * 4096 + (size == 0) * 4096 : size;
    break;
  }
  if (align < 16) align = 16;
  block_adopt(k, p, size, align, (uint8_t)kind, libc, zero, 0);
}

static void block_free(uint32_t k, unsigned variant, bool libc) {
  slot_t *s = &slots[k];
  verify_slot(s, "before free");
  if (trace) fprintf(stderr, "  t%d slot %u: free %p (variant %u)\n", self_id, k, (void *)s->p, variant % 4);
  if (!in_phase) iv_remove(k);
  budget_add(s, -1);
  errno = EDOM;
  switch (variant % 4) {
  case 0:
    if (libc) LIBC(free)(s->p); else hak_free(s->p);
    break;
  case 1:
    if (libc) LIBC(free_sized)(s->p, s->req); else hak_free_sized(s->p, s->req);
    break;
  case 2: {
    void *r = libc ? LIBC(realloc)(s->p, 0) : hak_realloc(s->p, 0);
    REQUIRE(r == NULL, "realloc(%p, 0) = %p, want NULL (it frees)", (void *)s->p, r);
    break;
  }
  default: /* free_aligned_sized takes the alignment the block was asked with */
    if (s->kind == K_ALIGNED_ALLOC || s->kind == K_POSIX_MEMALIGN || s->kind == K_MEMALIGN) {
      if (libc) LIBC(free_aligned_sized)(s->p, s->align, s->req);
      else hak_free_aligned_sized(s->p, s->align, s->req);
    } else {
      if (libc) LIBC(free)(s->p); else hak_free(s->p);
    }
    break;
  }
  REQUIRE(errno == EDOM, "free of %p changed errno to %d", (void *)s->p, errno);
  s->p = NULL;
}

static void block_realloc(uint32_t k, unsigned variant, size_t size, bool libc) {
  slot_t *s = &slots[k];
  verify_slot(s, "before realloc");
  size = budget(size);
  if (size == 0) size = 1; /* realloc(p, 0) is a free: FREE covers it */
  void *q;
  if (variant & 1) {
    size_t n = (size_t)1 << ((variant >> 1) % 4), each = (size + n - 1) / n;
    size = n * each;
    q = libc ? LIBC(reallocarray)(s->p, n, each) : hak_reallocarray(s->p, n, each);
  } else {
    q = libc ? LIBC(realloc)(s->p, size) : hak_realloc(s->p, size);
  }
  REQUIRE(q != NULL, "realloc(%p, %zu) returned NULL (errno %d)", (void *)s->p, size, errno);
  if (!in_phase) iv_remove(k);
  budget_add(s, -1);
  /* Everything the program could use is preserved, up to the new size: all
   * of the old usable size (programs write up to malloc_usable_size). */
  size_t keep = s->usable < size ? s->usable : size;
  size_t bad = check_block(q, s->id, s->usable, keep, false);
  REQUIRE(bad == SIZE_MAX, "realloc(%p (usable %zu), %zu) = %p: byte %zu of the old contents lost (%#x)",
          (void *)s->p, s->usable, size, q, bad, ((uint8_t *)q)[bad]);
  uint64_t id = s->id;
  uint8_t kind = s->kind;
  s->p = NULL;
  block_adopt(k, q, size, 16, kind, libc, false, id);
}

static void block_check(uint32_t k, bool libc) {
  slot_t *s = &slots[k];
  verify_slot(s, "check");
  size_t u = usable_of(libc, s->p);
  REQUIRE(u == s->usable, "usable size of %p changed from %zu to %zu while live", (void *)s->p, s->usable, u);
  REQUIRE(hak_owns(s->p) == 1, "hak_owns(%p) = 0 for a live block", (void *)s->p);
}

/* ---- requests that must fail ----------------------------------------------------- */
/* a value the compiler cannot see through (no warnings about huge sizes) */
static size_t opaque(size_t x) {
  __asm__ volatile("" : "+r"(x));
  return x;
}

static void bad_request(unsigned variant, uint32_t k, bool libc) {
  void *p;
  const size_t huge = opaque((size_t)PTRDIFF_MAX + 1), big = opaque(SIZE_MAX / 2 + 2);
  errno = 0;
  switch (variant % 8) {
  case 0:
    p = libc ? LIBC(calloc)(big, 2) : hak_calloc(big, 2);
    REQUIRE(p == NULL && errno == ENOMEM, "calloc overflowing: %p, errno %d", p, errno);
    break;
  case 1:
    p = libc ? LIBC(malloc)(huge + (variant >> 3)) : hak_malloc(huge + (variant >> 3));
    REQUIRE(p == NULL && errno == ENOMEM, "malloc(PTRDIFF_MAX + %u): %p, errno %d", 1 + (variant >> 3), p, errno);
    break;
  case 2:
    p = libc ? LIBC(aligned_alloc)(48, 64) : hak_aligned_alloc(48, 64);
    REQUIRE(p == NULL && errno == EINVAL, "aligned_alloc(48, 64): %p, errno %d", p, errno);
    break;
  case 3: {
    void *out = &out;
    int rc = libc ? LIBC(posix_memalign)(&out, 24 + (variant >> 3) % 2 * 28, 64)
                  : hak_posix_memalign(&out, 24 + (variant >> 3) % 2 * 28, 64);
    REQUIRE(rc == EINVAL && out == &out && errno == 0, "posix_memalign(bad alignment): %d, out changed %d, errno %d",
            rc, out != &out, errno);
    out = &out;
    rc = libc ? LIBC(posix_memalign)(&out, 64, huge) : hak_posix_memalign(&out, 64, huge);
    REQUIRE(rc == ENOMEM && out == &out, "posix_memalign(64, PTRDIFF_MAX + 1): %d, out changed %d", rc, out != &out);
    break;
  }
  case 4:
    p = libc ? LIBC(aligned_alloc)((size_t)1 << 20, huge * 2 - 4096) : hak_aligned_alloc((size_t)1 << 20, huge * 2 - 4096);
    REQUIRE(p == NULL && errno == ENOMEM, "aligned_alloc(1 MiB, SIZE_MAX - 4096): %p, errno %d", p, errno);
    break;
  case 5: { /* a failed realloc leaves the block as it was */
    slot_t *s = &slots[k];
    if (!s->p) break;
    p = libc ? LIBC(realloc)(s->p, huge) : hak_realloc(s->p, huge);
    REQUIRE(p == NULL && errno == ENOMEM, "realloc(%p, PTRDIFF_MAX + 1): %p, errno %d", (void *)s->p, p, errno);
    errno = 0;
    p = libc ? LIBC(reallocarray)(s->p, big / 2, 8) : hak_reallocarray(s->p, big / 2, 8);
    REQUIRE(p == NULL && errno == ENOMEM, "reallocarray(%p, overflowing): %p, errno %d", (void *)s->p, p, errno);
    verify_slot(s, "after a failed realloc");
    break;
  }
  case 6:
    REQUIRE(usable_of(libc, NULL) == 0, "malloc_usable_size(NULL) != 0");
    errno = EDOM;
    if (libc) LIBC(free)(NULL); else hak_free(NULL);
    REQUIRE(errno == EDOM, "free(NULL) changed errno");
    break;
  default:
    p = libc ? LIBC(reallocarray)(NULL, big / 3 * 2, 4) : hak_reallocarray(NULL, big / 3 * 2, 4);
    REQUIRE(p == NULL && errno == ENOMEM, "reallocarray(NULL, overflowing): %p, errno %d", p, errno);
    break;
  }
}

/* ---- groups (bursts of blocks of one size, to fill and empty whole pages) --- */
static uint32_t group_slot(unsigned g, unsigned i) { return NSINGLE + g * GROUP + i; }

static void group_free(unsigned g, unsigned order, unsigned variant, bool libc) {
  for (unsigned n = 0; n < GROUP; n++) {
    unsigned i;
    switch (order % 4) {
    case 0: i = n; break;
    case 1: i = GROUP - 1 - n; break;
    case 2: i = (n * 97) % GROUP; break;    /* scattered */
    default: i = n * 2 % GROUP + n * 2 / GROUP; break; /* even ones, then odd ones */
    }
    if ((order & 4) && (i & 1)) continue; /* leave half of them live */
    uint32_t k = group_slot(g, i);
    if (slots[k].p) block_free(k, variant + i, libc);
  }
}

static void group_alloc(unsigned g, unsigned count, size_t size, unsigned kind, bool libc) {
  group_free(g, 0, kind, libc);
  if (size > DENSE_MAX) size %= DENSE_MAX; /* whole pages of small and medium blocks */
  count = count % GROUP + 1;
  if (size > 0 && count * size > BURST_BYTES) count = (unsigned)(BURST_BYTES / size);
  for (unsigned i = 0; i < count; i++)
    block_alloc(group_slot(g, i), kind % 4 == 3 ? K_CALLOC : K_MALLOC, size, 0, libc);
}

/* ---- a concurrent phase ---------------------------------------------------------------- */
/* Every thread runs `steps` generated operations at once, each on its own
 * share of the slots: single slots s with s % nthreads == t and groups
 * g % nthreads == t. The blocks in them were allocated by any thread, so the
 * frees are cross-thread and race the owners' own allocations. */
typedef struct phase_s {
  uint32_t seed;
  unsigned steps;
  unsigned exits; /* bit t: thread t exits when its steps are done */
} phase_t;
static phase_t phase;

static void phase_run(int t) {
  uint64_t rs = mix64(phase.seed * 0x9E3779B97F4A7C15ull + (uint64_t)t + 1);
  unsigned nsingle = (NSINGLE - (unsigned)t + (unsigned)nthreads - 1) / (unsigned)nthreads;
  unsigned ngroup = (NGROUPS - (unsigned)t + (unsigned)nthreads - 1) / (unsigned)nthreads;
  in_phase = true;
  for (unsigned step = 0; step < phase.steps; step++) {
    rs += 0x9E3779B97F4A7C15ull;
    uint64_t r = mix64(rs);
    phase_step = step;
    bool libc = (r >> 62) & 1;
    uint32_t k = (uint32_t)t + (uint32_t)nthreads * (uint32_t)((r >> 8) % nsingle);
    switch (r % 8) {
    case 0: case 1: case 2: case 3:
      if (!slots[k].p) {
        size_t size = pick_size((unsigned)(r >> 16), (uint32_t)(r >> 24));
        if (size > DENSE_MAX && (r >> 20) % 4) size %= DENSE_MAX; /* big blocks: rarer */
        block_alloc(k, (unsigned)(r >> 56), size, (unsigned)(r >> 48), libc);
      } else {
        switch ((r >> 16) % 4) {
        case 0: case 1: block_free(k, (unsigned)(r >> 24), libc); break;
        case 2: block_realloc(k, (unsigned)(r >> 56), pick_size((unsigned)(r >> 18), (uint32_t)(r >> 24)) % (256 * KiB), libc); break;
        default: block_check(k, libc); break;
        }
      }
      break;
    case 4: case 5: {
      if (ngroup == 0) break;
      unsigned g = (unsigned)t + (unsigned)nthreads * (unsigned)((r >> 8) % ngroup);
      if (slots[group_slot(g, 0)].p) group_free(g, (unsigned)(r >> 16), (unsigned)(r >> 24), libc);
      else group_alloc(g, (unsigned)(r >> 16) % 64, pick_size((unsigned)(r >> 32), (uint32_t)(r >> 40)) % (16 * KiB),
                       (unsigned)(r >> 24), libc);
      break;
    }
    case 6:
      if (slots[k].p) block_check(k, libc);
      break;
    default:
      if ((r >> 8) % 16 == 0) hak_collect();
      break;
    }
  }
  in_phase = false;
}

/* ---- threads ------------------------------------------------------------------------- */
static void run_op(const op_t *op);

/* Wait on a semaphore, spinning a little first: most handoffs are short. */
static void sem_wait_spin(sem_t *s) {
  for (int i = 0; i < 200; i++) {
    if (sem_trywait(s) == 0) return;
    __builtin_ia32_pause();
  }
  while (sem_wait(s) != 0) {}
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  self_id = (int)(w - workers);
  for (;;) {
    sem_wait_spin(&w->go);
    const op_t *op = w->op;
    if (op->code == OP_EXIT) return NULL; /* joined by thread 0 */
    op_index = w->index;
    op_desc = w->desc;
    if (op->code == OP_PHASE) phase_run(self_id);
    else run_op(op);
    sem_post(&w->done);
  }
}

static void worker_start(int t) {
  worker_t *w = &workers[t];
  if (w->running) return;
  REQUIRE(sem_init(&w->go, 0, 0) == 0 && sem_init(&w->done, 0, 0) == 0, "sem_init failed");
  REQUIRE(pthread_create(&w->tid, NULL, worker_main, w) == 0, "pthread_create failed");
  w->running = true;
}

static void worker_exit(int t) {
  static const op_t exit_op = {.code = OP_EXIT};
  worker_t *w = &workers[t];
  if (!w->running) return;
  w->op = &exit_op;
  sem_post(&w->go);
  REQUIRE(pthread_join(w->tid, NULL) == 0, "pthread_join failed");
  sem_destroy(&w->go);
  sem_destroy(&w->done);
  w->running = false;
}

/* Run op on its thread and wait for it. */
static void dispatch(const op_t *op) {
  if (op->thread == 0) {
    run_op(op);
    return;
  }
  worker_t *w = &workers[op->thread];
  worker_start(op->thread);
  w->op = op;
  w->desc = op_desc;
  w->index = op_index;
  sem_post(&w->go);
  sem_wait_spin(&w->done);
}

static void phase_dispatch(const op_t *op) {
  phase.seed = op->a;
  phase.steps = op->b % 32 + 1;
  phase.exits = op->c;
  for (int t = 1; t < nthreads; t++) {
    worker_start(t);
    workers[t].op = op;
    workers[t].desc = op_desc;
    sem_post(&workers[t].go);
  }
  phase_run(0);
  for (int t = 1; t < nthreads; t++) {
    sem_wait_spin(&workers[t].done);
    if ((phase.exits >> t) & 1) worker_exit(t);
  }
  iv_rebuild(); /* and check: no overlap among everything live now */
}

/* ---- operations ------------------------------------------------------------------------ */
static void run_op(const op_t *op) {
  bool libc = op->libc;
  switch (op->code) {
  case OP_ALLOC:
    block_alloc(op->a % NSINGLE, op->b, pick_size(op->c, op->d), op->e, libc);
    break;
  case OP_FREE:
    if (slots[op->a % NSINGLE].p) block_free(op->a % NSINGLE, op->b, libc);
    break;
  case OP_REALLOC:
    if (slots[op->a % NSINGLE].p) block_realloc(op->a % NSINGLE, op->b, pick_size(op->c, op->d), libc);
    break;
  case OP_CHECK:
    if (slots[op->a % NSINGLE].p) block_check(op->a % NSINGLE, libc);
    break;
  case OP_BURST:
    group_alloc(op->a % NGROUPS, op->b, pick_size(op->c, op->d), op->e, libc);
    break;
  case OP_UNBURST:
    group_free(op->a % NGROUPS, op->b, op->c, libc);
    break;
  case OP_COLLECT:
    if (libc) REQUIRE(LIBC(malloc_trim)(op->a) == 1, "malloc_trim did not return 1");
    else hak_collect();
    break;
  case OP_VERIFY:
    for (uint32_t k = 0; k < NSLOTS; k++)
      if (slots[k].p) verify_slot(&slots[k], "verify");
    break;
  case OP_BAD:
    bad_request(op->a, op->b % NSINGLE, libc);
    break;
  default:
    break;
  }
}

typedef struct reader_s {
  const uint8_t *p, *end;
} reader_t;
static uint32_t rd(reader_t *r, int nbytes) {
  uint32_t v = 0;
  for (int i = 0; i < nbytes; i++) v |= (uint32_t)(r->p < r->end ? *r->p++ : 0) << (8 * i);
  return v;
}

static void describe(const op_t *op, char *buf, size_t n) {
  snprintf(buf, n, "%s t%d%s%s a=%u b=%u c=%u d=%u e=%u", op_name[op->code], op->thread, op->libc ? " libc" : "",
           op->flag ? " v" : "", op->a, op->b, op->c, op->d, op->e);
}

#ifdef FUZZ_RENAMED
static uint64_t live_segments(void) {
  hak_stats_t st;
  hak_stats_get(&st);
  return st.segments;
}
#endif

/* End of an input: every thread exits with its blocks live, thread 0 frees
 * them all and gives memory back. */
static void finish_input(void) {
  op_desc = "END";
  for (int t = 1; t < MAX_THREADS; t++) worker_exit(t);
  for (uint32_t k = 0; k < NSLOTS; k++)
    if (slots[k].p) block_free(k, k, k & 1);
  REQUIRE(tr_count == 0 && tr_root == NIL, "harness: overlap index not empty at the end");
  REQUIRE(atomic_load(&dense_bytes) == 0 && atomic_load(&sparse_blocks) == 0, "harness: budget accounting off");
  hak_collect();
#ifdef FUZZ_RENAMED
  /* Here hakmem serves nothing but this harness, and nothing is live: no
   * segment may be left. Segments abandoned by exited threads whose blocks
   * were all freed by other threads are only taken back when some thread
   * needs a fresh page (hak_collect does not look at them: see
   * tests/known/abandoned_collect.c), so ask for pages of each kind until
   * no more go away. */
  for (uint64_t before = live_segments() + 1; live_segments() > 0 && live_segments() < before;) {
    before = live_segments();
    static const size_t kinds[] = {16, 16 * KiB, 200 * KiB}; /* small, medium, large pages */
    for (int i = 0; i < 3; i++) hak_free(hak_malloc(kinds[i]));
    hak_collect();
  }
  REQUIRE(live_segments() == 0, "%llu segments still live after every block was freed and hak_collect()",
          (unsigned long long)live_segments());
  hak_stats_t st;
  hak_stats_get(&st);
  REQUIRE(st.heaps_live == 1, "%llu heaps live after every thread but this one exited",
          (unsigned long long)st.heaps_live);
#endif
  if (trace) {
    hak_stats_t st;
    hak_stats_get(&st);
    fprintf(stderr, "end: %llu segments, %llu KiB mapped, %llu heaps live\n", (unsigned long long)st.segments,
            (unsigned long long)st.mapped_bytes / 1024, (unsigned long long)st.heaps_live);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *t = getenv("FUZZ_TRACE");
  trace = t != NULL && *t != 0 && *t != '0';
  void *p = hak_malloc(24);
  REQUIRE(p != NULL && hak_owns(p) == 1, "hakmem is not serving hak_malloc");
  hak_free(p);
  p = LIBC(malloc)(24);
  REQUIRE(p != NULL && hak_owns(p) == 1, "hakmem is not serving the libc entry points");
  LIBC(free)(p);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader_t r = {data, data + size};
  nthreads = 1 + (int)(rd(&r, 1) & 3);
  self_id = 0;
  inputs_run++;
  long index = 0;
  char desc[160];
  while (r.p < r.end) {
    uint8_t b = (uint8_t)rd(&r, 1);
    op_t op = {.code = op_of_code[b & 15], .thread = (uint8_t)(((b >> 4) & 3) % nthreads),
               .libc = (b >> 6) & 1, .flag = b >> 7};
    switch (op.code) {
    case OP_ALLOC: op.a = rd(&r, 1); op.b = rd(&r, 1); op.c = rd(&r, 1); op.d = rd(&r, 3); op.e = rd(&r, 1); break;
    case OP_FREE: op.a = rd(&r, 1); op.b = rd(&r, 1); break;
    case OP_REALLOC: op.a = rd(&r, 1); op.b = rd(&r, 1); op.c = rd(&r, 1); op.d = rd(&r, 3); break;
    case OP_CHECK: op.a = rd(&r, 1); break;
    case OP_COLLECT: op.a = rd(&r, 1); break;
    case OP_BURST: op.a = rd(&r, 1); op.b = rd(&r, 1); op.c = rd(&r, 1); op.d = rd(&r, 3); op.e = rd(&r, 1); break;
    case OP_UNBURST: op.a = rd(&r, 1); op.b = rd(&r, 1); op.c = rd(&r, 1); break;
    case OP_PHASE: op.a = rd(&r, 4); op.b = rd(&r, 1); op.c = rd(&r, 1); break;
    case OP_BAD: op.a = rd(&r, 1); op.b = rd(&r, 1); break;
    default: break;
    }
    describe(&op, desc, sizeof desc);
    op_index = index++;
    op_desc = desc;
    if (trace) fprintf(stderr, "op #%ld %s\n", op_index, desc);
    if (op.code == OP_EXIT) {
      if (op.thread != 0) worker_exit(op.thread);
    } else if (op.code == OP_PHASE) {
      phase_dispatch(&op);
    } else {
      dispatch(&op);
    }
  }
  op_index = index;
  finish_input();
  op_desc = "";
  return 0;
}

/* for replay.c */
uint64_t fuzz_alloc_inputs(void);
uint64_t fuzz_alloc_inputs(void) { return inputs_run; }
uint64_t fuzz_alloc_blocks(void);
uint64_t fuzz_alloc_blocks(void) { return atomic_load(&allocations); }
