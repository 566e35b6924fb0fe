/* prof.c — the sampling heap profiler (HAKMEM_PROF=1; docs/PROFILING.md).
 *
 * Sampling. Each thread (heap) keeps, per size class, a countdown of bytes to
 * the next sample, drawn from an exponential distribution of mean
 * HAKMEM_PROF_SAMPLE: the sample points form a Poisson process over the bytes
 * of that class, so every byte has the same chance, and splitting the stream
 * by class changes nothing (the process is memoryless). A block is sampled when
 * a sample point falls inside it: with probability 1 - exp(-size/interval),
 * which is what pprof divides by (heap_v2).
 *
 * Counting without touching the fast path (see prof.h): the malloc slow path
 * is the only place that fills the list the fast path pops from, and it hands
 * out at most as many blocks as fit before the next sample point, charging
 * them at once; what is left of the page's list goes to its xthread_free list
 * (as if another thread had freed it) until a later slow path collects it.
 * The next allocation of the class after the hand-out is therefore seen here,
 * and if the sample point falls in it, it is the sampled one.
 *
 * A sampled block comes from a huge segment of its own (large.c), so its free
 * always reaches hak_large_free_checked, which calls hak_prof_free; the
 * record is found in a table keyed by address. Realloc (a copy, or large.c's
 * resize), aligned allocation and C++ entry points all end in these paths.
 *
 * Nothing here allocates with malloc: the tables are mapped from the OS at
 * start-up and bounded (PROF_STACKS stacks, PROF_LIVE_MAX live samples; a
 * sample that does not fit is still served, counted in `dropped`). Stacks
 * are taken by hakmem's own walk of the DWARF call-frame information, one
 * cached rule per return address (unwind.c); a frame it cannot step through
 * hands the sample to glibc's backtrace(), primed in the library constructor,
 * where its one-time loading of libgcc_s may allocate (afterwards it finds
 * unwind tables with _dl_find_object, glibc >= 2.35, without locks or
 * allocation). Code without unwind tables at all (gcc -static) gets empty
 * stacks: libgcc would abort the program. A per-thread flag keeps an allocation made
 * while a sample is taken from being sampled itself. One spin lock guards
 * the tables (sampled allocations and frees, and the dump); fork takes it. */
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prof.h"
#include "unwind.h"

bool hak_prof_on;

#define PROF_DEPTH 48                  /* frames kept per stack */
#define PROF_STACKS ((uint32_t)1 << 14) /* distinct stacks kept */
#define PROF_STACK_SLOTS (PROF_STACKS * 2)
#define PROF_LIVE ((uint32_t)1 << 18)   /* slots of the live-sample table */
#define PROF_LIVE_MAX (PROF_LIVE / 4 * 3)
#define PROF_LARGE HAK_CLASS_COUNT      /* countdown of blocks above HAK_LARGE_MAX */
#define PROF_NO_STACK UINT32_MAX

typedef struct prof_stack_s {
  uint64_t hash;
  uint32_t depth;
  uint32_t next;                  /* in its hash chain */
  uint64_t live_objs, live_bytes; /* sampled blocks not freed yet */
  uint64_t alloc_objs, alloc_bytes; /* every sampled block */
  uintptr_t frames[PROF_DEPTH];   /* innermost first: return addresses */
} prof_stack_t;

typedef struct prof_live_s {
  uintptr_t addr; /* 0: empty slot */
  uint64_t size;
  uint32_t stack;
  uint32_t tid;
} prof_live_t;

/* per heap (hak_heap_t.prof): the countdowns, and per class the window the
 * malloc fast path pops from (see window_fill) */
typedef struct prof_thread_s {
  hak_page_t window[HAK_CLASS_COUNT];      /* only free, used, free_is_zero, class_idx (and, for
                                            * the secure build's link check, start, block_size
                                            * and capacity) are used */
  hak_page_t *window_page[HAK_CLASS_COUNT]; /* the page window[c]'s blocks belong to */
  uint64_t rng;
  int64_t left[HAK_CLASS_COUNT + 1];
} prof_thread_t;

static size_t prof_interval = (size_t)512 << 10;
static bool prof_ready;   /* the tables are mapped and the unwinder primed */
static bool prof_child;   /* in a forked child: the profile file gets .PID */
static _Atomic(int) prof_lock_word;
static hak_tls uint8_t prof_busy; /* this thread is inside the profiler */
static hak_tls uint32_t prof_tid;  /* this thread's id, 0: not asked yet (one system call per thread) */

static prof_stack_t *stacks;    /* PROF_STACKS */
static uint32_t *stack_slots;   /* PROF_STACK_SLOTS heads of hash chains (index + 1) */
static uint32_t stack_count;
static prof_live_t *live;       /* PROF_LIVE */
static _Atomic(uint32_t) live_count; /* written under the lock */
static uint64_t dropped;        /* samples not recorded: a table was full */
static uint64_t samples_total;
static uint8_t *thread_chunk;   /* prof_thread_t records are carved from here */
static size_t thread_chunk_left;
static uintptr_t self_lo, self_hi; /* hakmem's own code: frames skipped */
static bool self_static;           /* linked into the executable: skip by count */
static bool self_tables;           /* our code has an unwind table index (PT_GNU_EH_FRAME) */
static bool no_backtrace;          /* backtrace() would abort (no tables: gcc -static) */
static int err_fd = 2;             /* stderr, dup'ed: programs close 2 before exit (ls) */

static void prof_lock(void) {
  while (atomic_exchange_explicit(&prof_lock_word, 1, memory_order_acquire)) {
    while (atomic_load_explicit(&prof_lock_word, memory_order_relaxed)) sched_yield();
  }
}
static void prof_unlock(void) { atomic_store_explicit(&prof_lock_word, 0, memory_order_release); }

/* ---- numbers: no libm ------------------------------------------------------ */
static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static double prof_ln(double x) { /* x > 0, normal */
  union { double d; uint64_t u; } v = {x};
  int e = (int)((v.u >> 52) & 0x7ff) - 1023;
  v.u = (v.u & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1023 << 52);
  double m = v.d; /* [1, 2) */
  if (m > 1.4142135623730951) { m *= 0.5; e++; }
  double z = (m - 1) / (m + 1), z2 = z * z; /* |z| < 0.172: atanh series */
  double s = z * (2 + z2 * (2.0 / 3 + z2 * (2.0 / 5 + z2 * (2.0 / 7 + z2 * (2.0 / 9 + z2 * (2.0 / 11 + z2 * 2.0 / 13))))));
  return s + e * 0.6931471805599453;
}

static double prof_exp(double x) { /* |x| < 700 */
  double kf = x / 0.6931471805599453;
  long k = (long)(kf + (kf >= 0 ? 0.5 : -0.5));
  double r = x - (double)k * 0.6931471805599453, t = 1, s = 1;
  for (int i = 1; i < 16; i++) { t *= r / i; s += t; }
  union { double d; uint64_t u; } v = {s};
  v.u += (uint64_t)k << 52;
  return v.d;
}

/* bytes to the next sample point: exponential, mean prof_interval */
static int64_t draw(prof_thread_t *t) {
  double u = (double)((rng_next(&t->rng) >> 11) + 1) * 0x1p-53; /* (0, 1] */
  double d = -prof_ln(u) * (double)prof_interval;
  if (d > 9e18) d = 9e18;
  return (int64_t)d + 1;
}

/* The expected number of bytes a sample of `size` bytes stands for. */
static double unsample(double size) {
  double x = size / (double)prof_interval;
  if (x > 700) return size;
  return size / (1 - prof_exp(-x));
}

/* ---- set-up ------------------------------------------------------------------ */
static void *os_map(size_t bytes) { return hak_os_alloc_aligned(hak_align_up(bytes, HAK_OS_PAGE_SIZE), HAK_OS_PAGE_SIZE); }

void hak_prof_init(void) {
  hak_prof_on = hak_options.prof;
  if (hak_options.prof_sample != 0) prof_interval = hak_options.prof_sample;
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uintptr_t me = (uintptr_t)arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (me >= lo && me < hi) {
      self_lo = lo;
      self_hi = hi;
      self_static = info->dlpi_name == NULL || info->dlpi_name[0] == 0; /* the executable */
      for (int j = 0; j < info->dlpi_phnum; j++) self_tables |= info->dlpi_phdr[j].p_type == PT_GNU_EH_FRAME;
      return 1;
    }
  }
  return 0;
}

/* The library constructor: the allocator works, allocations are fine here. */
void hak_prof_start(void) {
  if (!hak_prof_on || prof_ready) return;
  stacks = os_map(sizeof(prof_stack_t) * PROF_STACKS);
  stack_slots = os_map(sizeof(uint32_t) * PROF_STACK_SLOTS);
  live = os_map(sizeof(prof_live_t) * PROF_LIVE);
  if (stacks == NULL || stack_slots == NULL || live == NULL) {
    hak_write_stderr("hakmem: profiler: cannot map its tables, profiling is off\n");
    return;
  }
  if (hak_options.prof_leaks || hak_options.stats == 1) {
    int fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
    if (fd >= 0) err_fd = fd;
  }
  prof_busy = 1;
  dl_iterate_phdr(find_self, (void *)(uintptr_t)&hak_prof_start);
  if (self_tables) {
    void *prime[4];
    backtrace(prime, 4); /* loads libgcc_s now, not inside a sample */
  } else {
    /* libgcc aborts the program when it finds no unwind table for its own
     * frame (Debian's gcc -static links none); the walker finds none either */
    no_backtrace = true;
    hak_write_stderr("hakmem: profiler: no unwind tables (statically linked?): stacks are left empty\n");
  }
  prof_busy = 0;
  prof_ready = true;
}

static prof_thread_t *thread_state(hak_heap_t *heap) {
  if (heap->prof != NULL) return heap->prof;
  if (heap == &hak_heap_empty) return NULL;
  prof_lock();
  if (thread_chunk_left < sizeof(prof_thread_t)) {
    prof_unlock();
    uint8_t *chunk = os_map((size_t)64 << 10); /* no lock across the mmap */
    if (chunk == NULL) return NULL;
    prof_lock();
    thread_chunk = chunk;
    thread_chunk_left = (size_t)64 << 10;
  }
  prof_thread_t *t = (prof_thread_t *)thread_chunk; /* zero: the windows are empty */
  thread_chunk += hak_align_up(sizeof(prof_thread_t), _Alignof(prof_thread_t));
  thread_chunk_left -= hak_align_up(sizeof(prof_thread_t), _Alignof(prof_thread_t));
  prof_unlock();
  uint64_t seed = hak_options.prof_seed ? hak_options.prof_seed : hak_secret;
  t->rng = (seed ^ ((uintptr_t)heap * 0x9E3779B97F4A7C15ULL)) | 1;
  if (hak_options.prof_seed) t->rng = seed * 0x9E3779B97F4A7C15ULL | 1; /* reproducible runs */
  for (size_t c = 0; c <= HAK_CLASS_COUNT; c++) t->left[c] = draw(t);
  heap->prof = t;
  return t;
}

/* ---- recording ------------------------------------------------------------------ */
/* The stack: hak_unwind (unwind.c: cached CFI rules, a few instructions a
 * frame); where it cannot step through a frame (an expression rule, a
 * signal frame, code without unwind tables), glibc's backtrace() for the
 * whole stack, as before. Both give the same frames (tests/unwind.c). */
static uint32_t capture(uintptr_t *out) {
  uintptr_t buf[PROF_DEPTH + 16];
  hak_unwind_status_t st;
  int n = hak_unwind(buf, PROF_DEPTH + 16, &st), i = 0;
  if (hak_unlikely(st == HAK_UNWIND_UNKNOWN || st == HAK_UNWIND_BAD) && !no_backtrace) {
    void *bt[PROF_DEPTH + 16];
    n = backtrace(bt, PROF_DEPTH + 16);
    for (int k = 0; k < n; k++) buf[k] = (uintptr_t)bt[k];
  }
  if (self_static) i = n < 3 ? n : 3; /* our frames cannot be told from the program's: skip the usual 3 */
  else while (i < n && buf[i] >= self_lo && buf[i] < self_hi) i++;
  uint32_t d = 0;
  for (; i < n && d < PROF_DEPTH; i++) out[d++] = buf[i];
  return d;
}

static uint64_t stack_hash(const uintptr_t *f, uint32_t d) {
  uint64_t h = 0xcbf29ce484222325ULL ^ d;
  for (uint32_t i = 0; i < d; i++) {
    h ^= f[i];
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return h;
}

/* lock held */
static uint32_t stack_intern(const uintptr_t *f, uint32_t d) {
  uint64_t h = stack_hash(f, d);
  uint32_t *slot = &stack_slots[h & (PROF_STACK_SLOTS - 1)];
  for (uint32_t i = *slot; i != 0; i = stacks[i - 1].next) {
    prof_stack_t *s = &stacks[i - 1];
    if (s->hash == h && s->depth == d && memcmp(s->frames, f, d * sizeof(uintptr_t)) == 0) return i - 1;
  }
  if (stack_count == PROF_STACKS) return PROF_NO_STACK;
  prof_stack_t *s = &stacks[stack_count];
  s->hash = h;
  s->depth = d;
  memcpy(s->frames, f, d * sizeof(uintptr_t));
  s->next = *slot;
  __atomic_store_n(&stack_count, stack_count + 1, __ATOMIC_RELAXED); /* snap_take peeks */
  *slot = stack_count;
  return stack_count - 1;
}

static uint32_t live_slot(uintptr_t a) {
  uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ULL;
  return (uint32_t)(h >> 40) & (PROF_LIVE - 1);
}

/* Record a sampled block: its stack, size and thread. */
static void record(void *p, size_t size) {
  uintptr_t frames[PROF_DEPTH];
  prof_busy = 1;
  uint32_t d = capture(frames);
  if (prof_tid == 0) prof_tid = (uint32_t)syscall(SYS_gettid);
  uint32_t tid = prof_tid;
  prof_lock();
  samples_total++;
  uint32_t s = stack_intern(frames, d);
  if (s == PROF_NO_STACK || live_count >= PROF_LIVE_MAX) {
    __atomic_store_n(&dropped, dropped + 1, __ATOMIC_RELAXED);
  } else {
    stacks[s].live_objs++;
    stacks[s].live_bytes += size;
    stacks[s].alloc_objs++;
    stacks[s].alloc_bytes += size;
    uint32_t i = live_slot((uintptr_t)p);
    while (live[i].addr != 0) i = (i + 1) & (PROF_LIVE - 1);
    live[i] = (prof_live_t){(uintptr_t)p, size, s, tid};
    live_count++;
  }
  prof_unlock();
  prof_busy = 0;
}

/* Forget a block if it was sampled (lock held); true if it was. Linear
 * probing with backward-shift deletion: no tombstones. */
static bool forget_locked(uintptr_t a) {
  uint32_t i = live_slot(a);
  while (live[i].addr != a) {
    if (live[i].addr == 0) return false;
    i = (i + 1) & (PROF_LIVE - 1);
  }
  prof_stack_t *s = &stacks[live[i].stack];
  s->live_objs--;
  s->live_bytes -= live[i].size;
  live_count--;
  uint32_t hole = i;
  for (uint32_t j = (i + 1) & (PROF_LIVE - 1); live[j].addr != 0; j = (j + 1) & (PROF_LIVE - 1)) {
    uint32_t home = live_slot(live[j].addr);
    /* j's entry may move to the hole if its home is not in (hole, j] */
    bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!stays) {
      live[hole] = live[j];
      hole = j;
    }
  }
  live[hole].addr = 0;
  return true;
}

bool hak_prof_free(const void *p) {
  if (!prof_ready || atomic_load_explicit(&live_count, memory_order_relaxed) == 0) return false;
  prof_lock();
  bool sampled = forget_locked((uintptr_t)p);
  prof_unlock();
  return sampled;
}

/* ---- the allocation hooks --------------------------------------------------------- */
/* Hand the fast path a prefix of the page's free list: as many blocks as fit
 * before the class's next sample point, charged now. They move to the
 * class's window, which the heap's direct entries point at, so the malloc
 * fast path pops them there; to the page they count as handed out (as if
 * the program had taken them all at once), and the owner's frees go back on
 * the page's own list by the free fast path, out of the fast path's reach. */
static void window_fill(hak_heap_t *heap, prof_thread_t *t, hak_page_t *page, int64_t *left) {
  hak_block_t *first = page->free;
  int64_t bs = (int64_t)page->block_size, k = (*left - 1) / bs;
  if (first == NULL || k <= 0) return; /* the class's next allocation comes here */
  size_t c = page->class_idx;
  hak_page_t *w = &t->window[c];
  hak_assert(w->free == NULL);
  /* With no units detached, the free list holds every carved block not in
   * use (types.h): if they all fit, the whole list goes without a walk. */
  int64_t n = page->detached == 0 ? (int64_t)page->capacity - (int64_t)hak_page_in_use(page) : INT64_MAX;
  if (n <= k) {
#if HAK_DEBUG
    int64_t count = 0;
    for (hak_block_t *b = first; b != NULL; b = hak_link_get(b)) count++;
    hak_assert(count == n);
#endif
    page->free = NULL;
  } else {
    n = 1;
    hak_block_t *last = first;
    for (hak_block_t *next; n < k && (next = hak_link_get(last)) != NULL; last = next) n++;
    page->free = hak_link_get(last);
    hak_link_set(last, NULL);
  }
  page->used += (uint32_t)n;
  *left -= n * bs;
  w->free = first;
  w->free_is_zero = page->free_is_zero;
  w->class_idx = (uint8_t)c;
  w->start = page->start; /* the secure build checks links against the page's blocks */
  w->block_size = page->block_size;
  w->capacity = page->capacity;
  t->window_page[c] = page;
  if (heap->pages_direct[c] != w) {
    heap->pages_direct[c] = w;
    if (c <= HAK_SMALL_DIRECT_CLASS_MAX) hak_heap_set_small_direct(heap, c, w);
  }
}

/* The blocks left in the heap's windows go back to their pages, freed one by
 * one as the program would free them (the page's marks and queues see what
 * they expect; the page cannot empty before the last one). */
void hak_prof_heap_flush(hak_heap_t *heap) {
  prof_thread_t *t = heap->prof;
  if (t == NULL) return;
  for (size_t c = 0; c < HAK_CLASS_COUNT; c++) {
    hak_page_t *w = &t->window[c];
    for (hak_block_t *b = w->free, *next; b != NULL; b = next) {
      next = hak_link_get(b);
      b->next = NULL; /* a handed-out block carries no valid link (secure.h) */
      hak_page_free_local(heap, t->window_page[c], b, "free");
    }
    w->free = NULL;
    t->window_page[c] = NULL;
  }
}

static void *sample_alloc(size_t size, size_t charge, bool zero) {
  void *p = hak_large_alloc_sample(size, zero); /* a huge segment of its own */
  if (p != NULL) record(p, charge);
  return p;
}

void *hak_prof_malloc(hak_heap_t *heap, hak_page_t *page, size_t size, bool zero) {
  prof_thread_t *t = prof_ready && !prof_busy ? thread_state(heap) : NULL;
  if (t == NULL) return hak_page_pop(page, page->free, size, zero);
  int64_t *left = &t->left[page->class_idx];
  void *p = NULL;
  /* A large block's page holds that block only: a sampled one stays there,
   * and the page's block_limit at 0 sends its free to hak_free_generic,
   * which tells hak_prof_free (a mapping of its own would be mapped, faulted
   * in and given back for each sample of a program churning blocks of
   * hundreds of KiB). */
  bool one = page->reserved == 1;
  if (one) page->block_limit = page->capacity * (page->block_divisor * page->block_size); /* page_extend's */
  *left -= (int64_t)page->block_size;
  if (*left <= 0) {
    while (*left <= 0) *left += draw(t);
    if (one) {
      p = hak_page_pop(page, page->free, size, zero);
      page->block_limit = 0;
      record(p, page->block_size);
    } else {
      p = sample_alloc(size, page->block_size, zero);
    }
  }
  if (p == NULL) p = hak_page_pop(page, page->free, size, zero);
  window_fill(heap, t, page, left);
  return p;
}

static void charge_large(void *p, size_t size) {
  prof_thread_t *t = prof_ready && !prof_busy ? thread_state(hak_heap_tls) : NULL;
  if (t == NULL) return;
  int64_t *left = &t->left[PROF_LARGE];
  *left -= (int64_t)(size > INT64_MAX / 2 ? INT64_MAX / 2 : size);
  if (*left > 0) return;
  while (*left <= 0) *left += draw(t);
  record(p, size);
}

void *hak_prof_large_alloc(size_t size, size_t alignment, bool zero) {
  void *p = hak_large_alloc(size, alignment, zero);
  if (p != NULL) charge_large(p, size);
  return p;
}

void hak_prof_realloc(const void *p, void *q, size_t size) {
  hak_prof_free(p);
  charge_large(q, size);
}

/* ---- output -------------------------------------------------------------------------- */
typedef struct out_s {
  int fd;
  bool failed;
  size_t n;
  char buf[4096];
} out_t;

static void out_flush(out_t *o) {
  size_t done = 0;
  while (done < o->n && !o->failed) {
    ssize_t w = write(o->fd, o->buf + done, o->n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) o->failed = true;
    else done += (size_t)w;
  }
  o->n = 0;
}
static void out_mem(out_t *o, const char *s, size_t n) {
  while (n > 0) {
    if (o->n == sizeof(o->buf)) out_flush(o);
    size_t k = sizeof(o->buf) - o->n < n ? sizeof(o->buf) - o->n : n;
    memcpy(o->buf + o->n, s, k);
    o->n += k;
    s += k;
    n -= k;
  }
}
static void out_str(out_t *o, const char *s) { out_mem(o, s, strlen(s)); }
static void out_u64(out_t *o, uint64_t v) {
  char b[24];
  out_mem(o, b, (size_t)(hak_fmt_u64(b, v) - b));
}
static void out_hex(out_t *o, uintptr_t v) {
  char b[24];
  out_mem(o, b, (size_t)(hak_fmt_hex(b, v) - b));
}
/* v padded to width w with spaces on the left, as gperftools writes its counts */
static void out_u64w(out_t *o, uint64_t v, int w) {
  char b[24];
  int n = (int)(hak_fmt_u64(b, v) - b);
  for (; n < w; w--) out_mem(o, " ", 1);
  out_mem(o, b, (size_t)n);
}

static void out_counts(out_t *o, uint64_t n1, uint64_t s1, uint64_t n2, uint64_t s2) {
  out_u64w(o, n1, 6);
  out_str(o, ": ");
  out_u64w(o, s1, 8);
  out_str(o, " [");
  out_u64w(o, n2, 6);
  out_str(o, ": ");
  out_u64w(o, s2, 8);
  out_str(o, "] @");
}

static void out_maps(out_t *o) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char b[4096];
  for (;;) {
    ssize_t r = read(fd, b, sizeof(b));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out_mem(o, b, (size_t)r);
  }
  close(fd);
}

/* the symbol of a return address, "name+0xoff" or "module+0xoff" */
static void out_symbol(out_t *o, uintptr_t a, bool folded) {
  Dl_info info;
  if (dladdr((void *)(a - 1), &info) != 0) {
    if (info.dli_sname != NULL && info.dli_saddr != NULL) {
      out_str(o, info.dli_sname);
      if (!folded) { out_str(o, "+"); out_hex(o, a - (uintptr_t)info.dli_saddr); }
      return;
    }
    if (info.dli_fname != NULL) {
      const char *base = strrchr(info.dli_fname, '/');
      out_str(o, base ? base + 1 : info.dli_fname);
      out_str(o, "+");
      out_hex(o, a - (uintptr_t)info.dli_fbase);
      return;
    }
  }
  out_hex(o, a);
}

/* The heap profile (lock held). */
static void write_profile(out_t *o) {
  uint64_t t[4] = {0, 0, 0, 0};
  for (uint32_t i = 0; i < stack_count; i++) {
    t[0] += stacks[i].live_objs;
    t[1] += stacks[i].live_bytes;
    t[2] += stacks[i].alloc_objs;
    t[3] += stacks[i].alloc_bytes;
  }
  out_str(o, "heap profile: ");
  out_counts(o, t[0], t[1], t[2], t[3]);
  out_str(o, " heap_v2/");
  out_u64(o, prof_interval);
  out_str(o, "\n");
  for (uint32_t i = 0; i < stack_count; i++) {
    prof_stack_t *s = &stacks[i];
    out_counts(o, s->live_objs, s->live_bytes, s->alloc_objs, s->alloc_bytes);
    for (uint32_t f = 0; f < s->depth; f++) {
      out_str(o, " ");
      out_hex(o, s->frames[f]);
    }
    out_str(o, "\n");
  }
  out_str(o, "\nMAPPED_LIBRARIES:\n");
  out_maps(o);
}

/* Estimated live bytes of a stack: each sample stands for size/P(sampled). */
static uint64_t stack_live_estimate(const prof_stack_t *s) {
  if (s->live_objs == 0) return 0;
  double avg = (double)s->live_bytes / (double)s->live_objs;
  return (uint64_t)(unsample(avg) * (double)s->live_objs + 0.5);
}

/* Symbolising (dladdr) takes the loader's lock, and a thread holding that
 * lock may be sampling (dlopen allocates): never call it with prof_lock
 * held. The folded stacks and the leak report work from a copy of the stack
 * table, taken under the lock into memory mapped beforehand. */
typedef struct snap_s {
  prof_stack_t *s;
  uint32_t n;
  size_t bytes;
} snap_t;

static bool snap_take(snap_t *sn) {
  uint32_t want = __atomic_load_n(&stack_count, __ATOMIC_RELAXED) + 64; /* a peek: it only grows, the copy is bounded below */
  if (want > PROF_STACKS) want = PROF_STACKS;
  sn->bytes = hak_align_up((size_t)want * sizeof(prof_stack_t), HAK_OS_PAGE_SIZE);
  sn->s = os_map(sn->bytes); /* before the lock: an interposed mmap may allocate */
  if (sn->s == NULL) return false;
  prof_lock();
  sn->n = stack_count < want ? stack_count : want;
  memcpy(sn->s, stacks, (size_t)sn->n * sizeof(prof_stack_t));
  prof_unlock();
  return true;
}

static void snap_free(snap_t *sn) { hak_os_free(sn->s, sn->bytes); }

static snap_t *folded_snap;

/* Folded stacks: "outer;...;inner bytes", live bytes unsampled. */
static void write_folded(out_t *o) {
  for (uint32_t i = 0; i < folded_snap->n; i++) {
    prof_stack_t *s = &folded_snap->s[i];
    uint64_t bytes = stack_live_estimate(s);
    if (bytes == 0) continue;
    if (s->depth == 0) out_str(o, "[unknown]");
    for (uint32_t f = s->depth; f-- > 0;) {
      out_symbol(o, s->frames[f], true);
      if (f != 0) out_str(o, ";");
    }
    out_str(o, " ");
    out_u64(o, bytes);
    out_str(o, "\n");
  }
}

static int write_file(const char *path, void (*fn)(out_t *)) {
  out_t o;
  o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (o.fd < 0) return -1;
  o.failed = false;
  o.n = 0;
  fn(&o);
  out_flush(&o);
  int saved = errno;
  if (close(o.fd) != 0 && !o.failed) { saved = errno; o.failed = true; }
  errno = saved;
  return o.failed ? -1 : 0;
}

static char *append(char *q, char *end, const char *s) {
  while (*s && q < end) *q++ = *s++;
  return q;
}

/* the profile's path: as given (in a forked child: PATH.PID), or hakmem.PID.heap */
static bool profile_path(char *buf, size_t cap, const char *given) {
  char num[24], *q = buf, *end = buf + cap - 1;
  *hak_fmt_u64(num, (uint64_t)getpid()) = 0;
  if (given != NULL && given[0] != 0) {
    q = append(q, end, given);
  } else if (hak_options.prof_file[0] != 0) {
    q = append(q, end, hak_options.prof_file);
    if (prof_child && strncmp(hak_options.prof_file, "/dev/", 5) != 0) { q = append(q, end, "."); q = append(q, end, num); }
  } else {
    q = append(q, end, "hakmem.");
    q = append(q, end, num);
    q = append(q, end, ".heap");
  }
  if (q >= end - 8) return false; /* room for ".folded" */
  *q = 0;
  return true;
}

static int dump(const char *given) {
  char path[512], folded[520];
  if (!profile_path(path, sizeof(path), given)) { errno = ENAMETOOLONG; return -1; }
  memcpy(folded, path, strlen(path));
  memcpy(folded + strlen(path), ".folded", 8);
  bool with_folded = strncmp(path, "/dev/", 5) != 0; /* /dev/null, /dev/stderr: the profile only */
  prof_busy = 1;
  prof_lock();
  int r = write_file(path, write_profile); /* no symbols: no loader lock */
  int saved = errno;
  prof_unlock();
  snap_t sn;
  if (with_folded) {
    if (!snap_take(&sn)) {
      if (r == 0) { r = -1; saved = ENOMEM; }
    } else {
      folded_snap = &sn;
      if (write_file(folded, write_folded) != 0 && r == 0) { r = -1; saved = errno; }
      snap_free(&sn);
    }
  }
  prof_busy = 0;
  errno = saved;
  return r;
}

int hak_prof_dump(const char *path) {
  if (!hak_prof_on || !prof_ready) {
    errno = ENOTSUP;
    return -1;
  }
  return dump(path);
}

/* ---- the leak report ---------------------------------------------------------------------- */
static void leak_report(const prof_stack_t *st, uint32_t count) {
  /* stacks with live samples, largest estimate first (selection: small n) */
  out_t o;
  o.fd = err_fd;
  o.failed = false;
  o.n = 0;
  uint64_t total = 0, shown = 0, sites = 0;
  for (uint32_t i = 0; i < count; i++)
    if (st[i].live_objs) { total += stack_live_estimate(&st[i]); sites++; }
  if (sites == 0) {
    out_str(&o, "hakmem: leak report: no sampled allocation is still live\n");
    out_flush(&o);
    return;
  }
  out_str(&o, "hakmem: leak report: about ");
  out_u64(&o, total);
  out_str(&o, " bytes still allocated at exit from ");
  out_u64(&o, sites);
  out_str(&o, " sampled site(s), largest first (sampling interval ");
  out_u64(&o, prof_interval);
  out_str(&o, " bytes)\n");
  uint64_t last = UINT64_MAX;
  uint32_t last_i = UINT32_MAX;
  for (uint64_t k = 0; k < sites && k < 50; k++) {
    uint32_t best = UINT32_MAX;
    uint64_t best_b = 0;
    for (uint32_t i = 0; i < count; i++) {
      if (st[i].live_objs == 0) continue;
      uint64_t b = stack_live_estimate(&st[i]);
      /* strictly after (last, last_i) in (bytes desc, index asc) order */
      if (b > last || (b == last && i <= last_i)) continue;
      if (best == UINT32_MAX || b > best_b) { best = i; best_b = b; }
    }
    if (best == UINT32_MAX) break;
    last = best_b;
    last_i = best;
    const prof_stack_t *s = &st[best];
    out_str(&o, "hakmem: leak: about ");
    out_u64(&o, best_b);
    out_str(&o, " bytes (");
    out_u64(&o, s->live_objs);
    out_str(&o, " sampled blocks, ");
    out_u64(&o, s->live_bytes);
    out_str(&o, " bytes) allocated at:\n");
    for (uint32_t f = 0; f < s->depth; f++) {
      out_str(&o, "    #");
      out_u64(&o, f);
      out_str(&o, " ");
      out_hex(&o, s->frames[f]);
      out_str(&o, " ");
      out_symbol(&o, s->frames[f], false);
      out_str(&o, "\n");
    }
    shown++;
  }
  if (shown < sites) {
    out_str(&o, "hakmem: leak: ... ");
    out_u64(&o, sites - shown);
    out_str(&o, " smaller site(s) not shown\n");
  }
  out_flush(&o);
}

void hak_prof_at_exit(void) {
  if (!hak_prof_on || !prof_ready) return;
  if (dump(NULL) != 0) {
    char path[512];
    hak_write_stderr("hakmem: profiler: cannot write ");
    if (profile_path(path, sizeof(path), NULL)) hak_write_stderr(path);
    hak_write_stderr("\n");
  }
  if (__atomic_load_n(&dropped, __ATOMIC_RELAXED) != 0) hak_write_stderr("hakmem: profiler: some samples were not recorded (its tables were full)\n");
  if (hak_options.stats == 1) { /* HAKMEM_STATS=1: what the profile holds and costs */
    out_t o;
    o.fd = err_fd;
    o.failed = false;
    o.n = 0;
    prof_lock();
    uint64_t v[6] = {samples_total, atomic_load(&live_count), stack_count, dropped,
                     (uint64_t)stack_count * sizeof(prof_stack_t) + (uint64_t)PROF_LIVE * sizeof(prof_live_t) +
                         (uint64_t)PROF_STACK_SLOTS * sizeof(uint32_t),
                     prof_interval};
    prof_unlock();
    static const char *const names[6] = {"prof_samples", "prof_live_samples", "prof_stacks", "prof_dropped",
                                         "prof_table_bytes", "prof_interval"};
    for (int i = 0; i < 6; i++) {
      out_str(&o, "hakmem: ");
      out_str(&o, names[i]);
      out_str(&o, " ");
      out_u64(&o, v[i]);
      out_str(&o, "\n");
    }
    out_flush(&o);
  }
  if (hak_options.prof_leaks) {
    prof_busy = 1;
    snap_t sn;
    if (snap_take(&sn)) {
      leak_report(sn.s, sn.n);
      snap_free(&sn);
    } else {
      hak_write_stderr("hakmem: leak report: no memory for it\n");
    }
    prof_busy = 0;
  }
}

/* ---- fork ------------------------------------------------------------------------------------- */
void hak_prof_atfork_prepare(void) {
  if (hak_prof_on) prof_lock();
}
void hak_prof_atfork_parent(void) {
  if (hak_prof_on) prof_unlock();
}
void hak_prof_atfork_child(void) {
  if (!hak_prof_on) return;
  prof_child = true;
  prof_tid = 0; /* the child's thread has its own id */
  atomic_store(&prof_lock_word, 0);
}
