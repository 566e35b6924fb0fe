/* bench/common.h — shared code for the hakmem benchmark workloads.
 *
 * Every workload is a plain C program linked against nothing special: the
 * allocator under test is chosen by LD_PRELOAD. At the end of a run the
 * workload prints ONE line to stdout:
 *
 *   result workload=NAME ops=N seconds=S ops_per_sec=R ... peak_rss_kb=K
 *          rss_kb=K allocator=NAME malloc_lib=FILE hak_os_mmap=N ...
 *
 * (all on one line, space-separated key=value pairs, values without spaces).
 * "ops" always counts allocator calls (malloc/realloc/free) of the timed part,
 * except prodcons whose ops are frees; each workload documents its own.
 *
 * The allocator proof (see docs/BENCHMARKS.md): the workload scans
 * /proc/self/maps for libhakmem/libmimalloc/libjemalloc/libtcmalloc, looks up
 * which object the process-wide `malloc` symbol resolves to, and for hakmem
 * prints every counter of hak_stats_t (hak_<field>=N). bench/run refuses a
 * run whose allocator is not the one it asked for.
 *
 * Exit status: 0 ok, 2 bad arguments, 3 allocation failed, 4 corrupted
 * content, 5 other failure (thread creation, ...).
 */
#ifndef HAKMEM_BENCH_COMMON_H
#define HAKMEM_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h" /* only for the hak_stats_t layout; nothing is linked */

/* The list of hak_stats_t fields: generated from include/hakmem.h by
 * bench/bench.mk (so new counters show up without editing this file), with a
 * hand-written fallback for building a workload by hand. */
#if defined(__has_include)
#if __has_include("hak_stats_fields.h")
#include "hak_stats_fields.h"
#endif
#endif
#ifndef HAK_STATS_FIELDS
#define HAK_STATS_FIELDS(X)                                                    \
  X(os_mmap) X(os_munmap) X(os_madvise) X(os_mremap) X(mapped_bytes)           \
  X(mapped_peak) X(purged_bytes) X(segments) X(segments_peak)                  \
  X(segments_abandoned) X(segments_reclaimed) X(pages_fresh) X(blocks_carved)  \
  X(malloc_generic) X(large_allocs) X(large_cache_hits) X(heaps_created)       \
  X(heaps_live) X(invalid_frees)
#endif

/* Valgrind/callgrind client requests: bench/run --callgrind counts only the
 * timed part (zeroed at bench_start, dumped at bench_stop). Natively they cost
 * a few instructions. */
#if defined(__has_include) && !defined(BENCH_NO_CALLGRIND)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_HAVE_CALLGRIND 1
#endif
#endif
#ifndef BENCH_HAVE_CALLGRIND
#define CALLGRIND_ZERO_STATS do { } while (0)
#define CALLGRIND_DUMP_STATS_AT(s) do { (void)(s); } while (0)
#endif

#define BENCH_NOINLINE __attribute__((noinline))
#define BENCH_UNUSED __attribute__((unused))
#define BENCH_LIKELY(x) __builtin_expect(!!(x), 1)
#define BENCH_UNLIKELY(x) __builtin_expect(!!(x), 0)

enum { BENCH_EXIT_USAGE = 2, BENCH_EXIT_NOMEM = 3, BENCH_EXIT_CORRUPT = 4, BENCH_EXIT_OTHER = 5 };

static const char *bench_name = "bench";

/* ---------------------------------------------------------------- failure */

static BENCH_UNUSED __attribute__((noreturn, format(printf, 2, 3))) void
bench_die(int code, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  /* write(2), not stdio: the heap may be the thing that is broken. */
  ssize_t w1 = write(2, bench_name, strlen(bench_name));
  ssize_t w2 = write(2, ": ", 2);
  ssize_t w3 = write(2, buf, (size_t)n);
  (void)w1; (void)w2; (void)w3;
  _exit(code);
}

static BENCH_UNUSED __attribute__((noreturn)) void bench_nomem(size_t size) {
  bench_die(BENCH_EXIT_NOMEM, "FAILED: allocation of %zu bytes returned NULL (errno %d)", size, errno);
}

static BENCH_UNUSED __attribute__((noreturn)) void
bench_corrupt(const void *p, size_t size, size_t offset, unsigned want, unsigned got) {
  bench_die(BENCH_EXIT_CORRUPT,
            "FAILED: corrupted block %p (size %zu): byte %zu is 0x%02x, expected 0x%02x",
            p, size, offset, got & 0xffu, want & 0xffu);
}

/* -------------------------------------------------------------------- PRNG */

/* splitmix64: fast, deterministic, good enough for choosing slots and sizes. */
typedef struct { uint64_t s; } rng_t;

static inline uint64_t rng_next(rng_t *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline void rng_seed(rng_t *r, uint64_t seed) { r->s = seed * 0xD1B54A32D192ED03ull + 1; }
/* Uniform in [0, n) (Lemire's multiply-shift; n > 0). */
static inline uint64_t rng_below(rng_t *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}
/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi) {
  return lo + rng_below(r, hi - lo + 1);
}

/* Byte pattern for a block: a function of a tag and the position, so a block
 * swapped with another or partially overwritten is noticed. */
static inline unsigned char pat_byte(uint64_t tag, size_t pos) {
  uint64_t x = (tag ^ (pos * 0x9E3779B97F4A7C15ull)) * 0xff51afd7ed558ccdull;
  return (unsigned char)(x >> 56);
}
/* Write the first and last byte of p[0..size). */
static inline void pat_write_ends(unsigned char *p, size_t size, uint64_t tag) {
  if (size == 0) return;
  p[0] = pat_byte(tag, 0);
  p[size - 1] = pat_byte(tag, size - 1);
}
static inline void pat_check_ends(const unsigned char *p, size_t size, uint64_t tag) {
  if (size == 0) return;
  if (BENCH_UNLIKELY(p[0] != pat_byte(tag, 0))) bench_corrupt(p, size, 0, pat_byte(tag, 0), p[0]);
  if (BENCH_UNLIKELY(p[size - 1] != pat_byte(tag, size - 1)))
    bench_corrupt(p, size, size - 1, pat_byte(tag, size - 1), p[size - 1]);
}
/* One byte per 4 KiB page in [from, to) (plus the ends): makes the pages
 * resident, as a program using the memory would. */
static inline void pat_write_pages(unsigned char *p, size_t from, size_t to, uint64_t tag) {
  for (size_t i = (from + 4095) & ~(size_t)4095; i < to; i += 4096) p[i] = pat_byte(tag, i);
}
static inline void pat_check_pages(const unsigned char *p, size_t from, size_t to, uint64_t tag) {
  for (size_t i = (from + 4095) & ~(size_t)4095; i < to; i += 4096)
    if (BENCH_UNLIKELY(p[i] != pat_byte(tag, i))) bench_corrupt(p, to, i, pat_byte(tag, i), p[i]);
}

/* ------------------------------------------------------------------ timing */

static inline double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Start and stop of the timed part (also the callgrind window). */
static BENCH_UNUSED double bench_start(void) {
  CALLGRIND_ZERO_STATS;
  return now_sec();
}
static BENCH_UNUSED double bench_stop(double t0) {
  double t = now_sec() - t0;
  CALLGRIND_DUMP_STATS_AT("timed");
  return t;
}

/* --------------------------------------------------------------------- RSS */

/* Current resident set in KiB, from /proc/self/statm, without allocating. */
static BENCH_UNUSED long rss_kb(void) {
  char buf[256];
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  long size = 0, resident = 0;
  if (sscanf(buf, "%ld %ld", &size, &resident) != 2) return -1;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak resident set of this process in KiB: VmHWM from /proc/self/status.
 * Not getrusage's ru_maxrss: Linux carries ru_maxrss across execve, so a
 * workload started by a big parent (the python runner) would report at
 * least the parent's RSS. VmHWM belongs to the address space made by exec. */
static BENCH_UNUSED long peak_rss_kb(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
      buf[n] = 0;
      char *p = strstr(buf, "\nVmHWM:");
      long kb;
      if (p && sscanf(p + 7, " %ld", &kb) == 1) return kb;
    }
  }
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return ru.ru_maxrss;
}

/* ------------------------------------------------------------------ params */

static BENCH_UNUSED int bench_ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

/* Positional argument i as an unsigned number with an optional k/m/g suffix
 * (powers of 1024); absent, empty or "-" gives the default. */
static BENCH_UNUSED uint64_t arg_u64(int argc, char **argv, int i, uint64_t def, const char *what) {
  if (i >= argc || argv[i][0] == 0 || strcmp(argv[i], "-") == 0) return def;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(argv[i], &end, 0);
  if (errno != 0 || end == argv[i] || argv[i][0] == '-')
    bench_die(BENCH_EXIT_USAGE, "bad %s: '%s'", what, argv[i]);
  uint64_t mul = 1;
  switch (*end) {
  case 0: break;
  case 'k': case 'K': mul = 1ull << 10; end++; break;
  case 'm': case 'M': mul = 1ull << 20; end++; break;
  case 'g': case 'G': mul = 1ull << 30; end++; break;
  default: break;
  }
  if (*end == 'i' || *end == 'b' || *end == 'B') end++; /* accept 64KiB, 1MB style */
  if (*end == 'B') end++;
  if (*end != 0) bench_die(BENCH_EXIT_USAGE, "bad %s: '%s'", what, argv[i]);
  return (uint64_t)v * mul;
}

static BENCH_UNUSED double arg_double(int argc, char **argv, int i, double def, const char *what) {
  if (i >= argc || argv[i][0] == 0 || strcmp(argv[i], "-") == 0) return def;
  char *end = NULL;
  double v = strtod(argv[i], &end);
  if (end == argv[i] || *end != 0 || v < 0) bench_die(BENCH_EXIT_USAGE, "bad %s: '%s'", what, argv[i]);
  return v;
}

/* Shows usage and exits 0 if the first argument is -h/--help. */
static BENCH_UNUSED void bench_usage_check(int argc, char **argv, const char *usage) {
  const char *slash = strrchr(argv[0], '/');
  bench_name = slash ? slash + 1 : argv[0];
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: %s %s\n", bench_name, usage);
    exit(0);
  }
}

/* ----------------------------------------------------------------- threads */

static BENCH_UNUSED pthread_t bench_thread(void *(*fn)(void *), void *arg) {
  pthread_t t;
  int e = pthread_create(&t, NULL, fn, arg);
  if (e != 0) bench_die(BENCH_EXIT_OTHER, "FAILED: pthread_create: %s", strerror(e));
  return t;
}

/* ----------------------------------------------------------- the allocator */

static const char *bench_basename(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static const struct { const char *needle, *name; } bench_families[] = {
  {"libhakmem", "hakmem"},
  {"libmimalloc", "mimalloc"},
  {"libjemalloc", "jemalloc"},
  {"libtcmalloc", "tcmalloc"},
};
#define BENCH_NFAMILIES (sizeof bench_families / sizeof bench_families[0])

/* Which allocator libraries are mapped: bit i set for bench_families[i]. */
static unsigned bench_scan_maps(void) {
  unsigned found = 0;
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[8192], line[4096];
  size_t len = 0;
  int overflow = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c != '\n') {
        if (len < sizeof line - 1) line[len++] = c; else overflow = 1;
        continue;
      }
      line[len] = 0;
      const char *path = overflow ? NULL : strchr(line, '/');
      if (path) {
        const char *base = bench_basename(path);
        for (unsigned f = 0; f < BENCH_NFAMILIES; f++)
          if (strstr(base, bench_families[f].needle)) found |= 1u << f;
      }
      len = 0;
      overflow = 0;
    }
  }
  close(fd);
  return found;
}

/* Prints the allocator proof fields: allocator=, malloc_lib=, and for hakmem
 * every hak_stats_t counter as hak_<name>=N (or hak_stats=missing). */
static void bench_print_allocator(FILE *out) {
  /* Which object serves malloc for this process (the global lookup order is
   * the executable, then LD_PRELOAD, then its libraries). */
  char malloc_lib[256] = "unknown";
  void *m = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info mi;
  int have_mi = m && dladdr(m, &mi) && mi.dli_fname;
  if (have_mi) snprintf(malloc_lib, sizeof malloc_lib, "%s", bench_basename(mi.dli_fname));

  void *hs = dlsym(RTLD_DEFAULT, "hak_stats_get");
  unsigned found = bench_scan_maps();
  /* A hakmem build under another file name (an A/B copy): hak_stats_get
   * living in the object that serves malloc identifies it. */
  if (hs && have_mi) {
    Dl_info hi;
    if (dladdr(hs, &hi) && hi.dli_fname && strcmp(hi.dli_fname, mi.dli_fname) == 0) found |= 1u;
  }
  const char *name = NULL;
  int nfound = __builtin_popcount(found);
  if (nfound == 1) {
    name = bench_families[__builtin_ctz(found)].name;
  } else if (nfound > 1) {
    /* Several mapped: the one that serves malloc, else ambiguous. */
    for (unsigned f = 0; f < BENCH_NFAMILIES; f++)
      if ((found & (1u << f)) && strstr(malloc_lib, bench_families[f].needle)) name = bench_families[f].name;
    if (!name) name = "ambiguous";
  } else {
    name = strncmp(malloc_lib, "libc.so", 7) == 0 ? "system" : "other";
  }
  fprintf(out, " allocator=%s malloc_lib=%s", name, malloc_lib);

  if (found & 1u) {
    if (!hs) {
      fprintf(out, " hak_stats=missing");
      return;
    }
    /* Padded: a library built from a newer header may write more fields. */
    union { hak_stats_t s; unsigned char pad[4096]; } u;
    memset(&u, 0, sizeof u);
    ((void (*)(hak_stats_t *))hs)(&u.s);
#define BENCH_PRINT_STAT(f) fprintf(out, " hak_" #f "=%" PRIu64, (uint64_t)u.s.f);
    HAK_STATS_FIELDS(BENCH_PRINT_STAT)
#undef BENCH_PRINT_STAT
  }
}

/* -------------------------------------------------------------- the result */

/* The result line is assembled in a fixed buffer and written at the end. */
static char bench_res_buf[4096];
static size_t bench_res_len;

static BENCH_UNUSED __attribute__((format(printf, 1, 2))) void res_add(const char *fmt, ...) {
  if (bench_res_len >= sizeof bench_res_buf - 1) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(bench_res_buf + bench_res_len, sizeof bench_res_buf - bench_res_len, fmt, ap);
  va_end(ap);
  if (n > 0) bench_res_len += (size_t)n;
  if (bench_res_len > sizeof bench_res_buf - 1) bench_res_len = sizeof bench_res_buf - 1;
}

/* Starts the line: workload, ops, seconds, ops_per_sec. Add workload-specific
 * keys with res_add(" key=%..."), then call res_end(). */
static BENCH_UNUSED void res_begin(const char *workload, uint64_t ops, double seconds) {
  bench_res_len = 0;
  res_add("result workload=%s ops=%" PRIu64 " seconds=%.6f ops_per_sec=%.6g", workload, ops, seconds,
          seconds > 0 ? (double)ops / seconds : 0.0);
}

static BENCH_UNUSED void res_end(void) {
  fputs(bench_res_buf, stdout);
  fprintf(stdout, " peak_rss_kb=%ld rss_kb=%ld", peak_rss_kb(), rss_kb());
  bench_print_allocator(stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

#endif /* HAKMEM_BENCH_COMMON_H */
