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
  memset(s, 0, sizeof(*s));
}

void hak_stats_get(hak_stats_t *out) {
  if (out == NULL) return;
  hak_heap_t *heap = hak_heap_tls;
  if (heap != &hak_heap_empty) hak_stats_merge_heap(&heap->stats);
#define HAK_STAT_COPY(name) out->name = atomic_load_explicit(&hak_stats.name, memory_order_relaxed);
  HAK_STAT_FIELDS(HAK_STAT_COPY)
#undef HAK_STAT_COPY
}

static void write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* One block: "hakmem: stats pid N profile P" then "hakmem: name value" lines,
 * formatted into a stack buffer and written at once (O_APPEND keeps blocks of
 * several processes apart). */
void hak_stats_print(int fd) {
  hak_stats_t s;
  hak_stats_get(&s);
  char buf[2048];
  char *p = buf;
#define APPEND(str) do { size_t l_ = strlen(str); memcpy(p, str, l_); p += l_; } while (0)
  APPEND("hakmem: stats pid ");
  p = hak_fmt_u64(p, (uint64_t)getpid());
  APPEND(" profile ");
  APPEND(hak_options.profile);
  APPEND("\n");
#define HAK_STAT_LINE(name) APPEND("hakmem: " #name " "); p = hak_fmt_u64(p, s.name); APPEND("\n");
  HAK_STAT_FIELDS(HAK_STAT_LINE)
#undef HAK_STAT_LINE
#undef APPEND
  write_all(fd, buf, (size_t)(p - buf));
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
  if (hak_options.stats) hak_stats_print(stats_fd);
  if (hak_options.stats_file[0]) {
    int fd = open(hak_options.stats_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
      hak_stats_print(fd);
      close(fd);
    } else {
      hak_write_stderr("hakmem: warning: cannot open HAKMEM_STATS_FILE\n");
    }
  }
}
