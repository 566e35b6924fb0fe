/* stats.c — process-wide counters (defined once, in HAK_STAT_FIELDS).
 *
 * OS and segment events update the shared atomics directly (they are rare).
 * Per-heap counters (slow-path events of one thread) are plain fields, flushed
 * into the shared atomics now and then by their owner and at thread exit, so no
 * shared cache line is written per allocation. Nothing here allocates. */
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"

hak_stats_atomic_t hak_stats;
#if HAK_OBSERVE
static _Atomic(uint64_t) obs_malloc[HAK_CLASS_COUNT], obs_free[HAK_CLASS_COUNT];
static _Atomic(uint64_t) obs_malloc_fast, obs_free_fast, obs_free_slow, obs_free_remote;
_Atomic(uint64_t) hak_obs_free_remote_heapless;
#endif

void hak_stat_add_peak(_Atomic(uint64_t) *cur, _Atomic(uint64_t) *peak, uint64_t n) {
  uint64_t now = atomic_fetch_add_explicit(cur, n, memory_order_relaxed) + n;
  uint64_t p = atomic_load_explicit(peak, memory_order_relaxed);
  while (now > p && !atomic_compare_exchange_weak_explicit(peak, &p, now, memory_order_relaxed, memory_order_relaxed)) {
  }
}

void hak_stats_merge_heap(hak_heap_stats_t *s) {
  hak_stat_add(malloc_generic, s->malloc_generic);
  hak_stat_add(blocks_carved, s->blocks_carved);
  hak_stat_add(pages_fresh, s->pages_fresh);
  hak_stat_add(units_detached, s->units_detached);
  hak_stat_add(units_reattached, s->units_reattached);
#if HAK_OBSERVE
  for (size_t c = 0; c < HAK_CLASS_COUNT; c++) {
    atomic_fetch_add_explicit(&obs_malloc[c], s->obs_malloc[c], memory_order_relaxed);
    atomic_fetch_add_explicit(&obs_free[c], s->obs_free[c], memory_order_relaxed);
  }
  atomic_fetch_add_explicit(&obs_malloc_fast, s->obs_malloc_fast, memory_order_relaxed);
  atomic_fetch_add_explicit(&obs_free_fast, s->obs_free_fast, memory_order_relaxed);
  atomic_fetch_add_explicit(&obs_free_slow, s->obs_free_slow, memory_order_relaxed);
  atomic_fetch_add_explicit(&obs_free_remote, s->obs_free_remote, memory_order_relaxed);
#endif
  memset(s, 0, sizeof(*s));
}

/* VmRSS, from /proc/self/statm with raw calls (nothing here allocates). */
static uint64_t resident_bytes(void) {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *p = buf;
  while (*p && *p != ' ') p++; /* skip the size field */
  uint64_t pages = 0;
  for (p++; *p >= '0' && *p <= '9'; p++) pages = pages * 10 + (uint64_t)(*p - '0');
  return pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void census(hak_census_t *c) {
  memset(c, 0, sizeof(*c));
  if (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2) return;
  hak_heap_census(c);
  hak_segment_census_pools(c);
  hak_large_census(c);
}

void hak_stats_get(hak_stats_t *out) {
  if (out == NULL) return;
  hak_heap_t *heap = hak_heap_tls;
  if (heap != &hak_heap_empty) hak_stats_merge_heap(&heap->stats);
#define HAK_STAT_COPY(name) out->name = atomic_load_explicit(&hak_stats.name, memory_order_relaxed);
  HAK_STAT_FIELDS(HAK_STAT_COPY)
#undef HAK_STAT_COPY
  hak_census_t c;
  census(&c);
  out->live_bytes = c.live;
  out->committed_bytes = c.committed;
  out->resident_bytes = resident_bytes();
}

int hak_stats_classes(hak_class_stats_t *out, int max) {
  hak_census_t c;
  census(&c);
  int n = HAK_CLASS_COUNT;
  for (int i = 0; i < n && i < max; i++) {
    out[i].block_size = i == 0 ? 0 : hak_class_block_size((size_t)i);
    out[i].live_blocks = c.blocks[i];
    out[i].pages = c.pages[i];
    out[i].committed_bytes = c.class_committed[i];
  }
  return n;
}

static void write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Formatting into a stack buffer, never past its end. */
typedef struct out_s {
  char buf[8192];
  size_t len;
} out_t;

static void put(out_t *o, const char *s) {
  size_t n = strlen(s);
  if (n > sizeof(o->buf) - o->len) n = sizeof(o->buf) - o->len;
  memcpy(o->buf + o->len, s, n);
  o->len += n;
}

static void put_u64(out_t *o, uint64_t v) {
  char num[24];
  hak_fmt_u64(num, v);
  put(o, num);
}

/* One block: "hakmem: stats pid N profile P", "hakmem: name value" lines,
 * then "hakmem: class SIZE blocks N pages P committed B" per class in use,
 * formatted on the stack and written at once (O_APPEND keeps blocks of
 * several processes apart). */
void hak_stats_print(int fd) {
  hak_stats_t s;
  hak_stats_get(&s);
  hak_class_stats_t cls[HAK_CLASS_COUNT];
  int n = hak_stats_classes(cls, HAK_CLASS_COUNT);
  static out_t o; /* 8 KiB: not on small thread stacks; a racy buffer only if two threads print at once */
  o.len = 0;
  put(&o, "hakmem: stats pid ");
  put_u64(&o, (uint64_t)getpid());
  put(&o, " profile ");
  put(&o, hak_options.profile);
  put(&o, "\n");
#define HAK_STAT_LINE(name) put(&o, "hakmem: " #name " "); put_u64(&o, s.name); put(&o, "\n");
  HAK_STAT_FIELDS(HAK_STAT_LINE)
  HAK_STAT_LINE(live_bytes)
  HAK_STAT_LINE(committed_bytes)
  HAK_STAT_LINE(resident_bytes)
#undef HAK_STAT_LINE
#if HAK_OBSERVE
  /* make observe: fast-path counters (merged from each thread's heap at its
   * exit and every 256 slow-path allocations; the calling thread's now) */
  put(&o, "hakmem: obs_malloc_fast "); put_u64(&o, atomic_load(&obs_malloc_fast)); put(&o, "\n");
  put(&o, "hakmem: obs_free_fast "); put_u64(&o, atomic_load(&obs_free_fast)); put(&o, "\n");
  put(&o, "hakmem: obs_free_slow "); put_u64(&o, atomic_load(&obs_free_slow)); put(&o, "\n");
  put(&o, "hakmem: obs_free_remote "); put_u64(&o, atomic_load(&obs_free_remote) + atomic_load(&hak_obs_free_remote_heapless));
  put(&o, "\n");
  for (int i = 1; i < n; i++) {
    uint64_t m = atomic_load(&obs_malloc[i]), f = atomic_load(&obs_free[i]);
    if (m == 0 && f == 0) continue;
    put(&o, "hakmem: obs_class ");
    put_u64(&o, cls[i].block_size);
    put(&o, " mallocs ");
    put_u64(&o, m);
    put(&o, " frees ");
    put_u64(&o, f);
    put(&o, "\n");
  }
#endif
  for (int i = 1; i < n; i++) {
    if (cls[i].pages == 0) continue;
    put(&o, "hakmem: class ");
    put_u64(&o, cls[i].block_size);
    put(&o, " blocks ");
    put_u64(&o, cls[i].live_blocks);
    put(&o, " pages ");
    put_u64(&o, cls[i].pages);
    put(&o, " committed ");
    put_u64(&o, cls[i].committed_bytes);
    put(&o, "\n");
  }
  write_all(fd, o.buf, o.len);
}

/* The same as one JSON object on one line. */
void hak_stats_print_json(int fd) {
  hak_stats_t s;
  hak_stats_get(&s);
  hak_class_stats_t cls[HAK_CLASS_COUNT];
  int n = hak_stats_classes(cls, HAK_CLASS_COUNT);
  static out_t o;
  o.len = 0;
  put(&o, "{\"hakmem_stats\":{\"pid\":");
  put_u64(&o, (uint64_t)getpid());
  put(&o, ",\"profile\":\"");
  put(&o, hak_options.profile);
  put(&o, "\"");
#define HAK_STAT_JSON(name) put(&o, ",\"" #name "\":"); put_u64(&o, s.name);
  HAK_STAT_FIELDS(HAK_STAT_JSON)
  HAK_STAT_JSON(live_bytes)
  HAK_STAT_JSON(committed_bytes)
  HAK_STAT_JSON(resident_bytes)
#undef HAK_STAT_JSON
  put(&o, ",\"classes\":[");
  bool first = true;
  for (int i = 1; i < n; i++) {
    if (cls[i].pages == 0) continue;
    put(&o, first ? "{\"size\":" : ",{\"size\":");
    first = false;
    put_u64(&o, cls[i].block_size);
    put(&o, ",\"blocks\":");
    put_u64(&o, cls[i].live_blocks);
    put(&o, ",\"pages\":");
    put_u64(&o, cls[i].pages);
    put(&o, ",\"committed\":");
    put_u64(&o, cls[i].committed_bytes);
    put(&o, "}");
  }
  put(&o, "]}}\n");
  write_all(fd, o.buf, o.len);
}

/* Many programs (coreutils among them) close stderr before exit handlers
 * run: keep a copy of it, made at start-up, for the exit report. */
static int stats_fd = 2;

void hak_stats_init(void) {
  if (!hak_options.stats) return;
  int fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
  if (fd >= 0) stats_fd = fd;
}

void hak_stats_at_exit(void) {
  if (hak_options.stats == 2) hak_stats_print_json(stats_fd);
  else if (hak_options.stats) hak_stats_print(stats_fd);
  if (hak_options.stats_file[0]) {
    int fd = open(hak_options.stats_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      if (hak_options.stats == 2) hak_stats_print_json(fd);
      else hak_stats_print(fd);
      close(fd);
    } else {
      hak_write_stderr("hakmem: warning: cannot open HAKMEM_STATS_FILE\n");
    }
  }
}
