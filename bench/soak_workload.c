/* soak_workload MODE [PARAMS...] — a workload that lives as long as a soak and is
 * driven epoch by epoch over stdin by bench/soak (docs/SOAK.md).
 *
 *   soak_workload random_mixed [WS SEED MIN MAX]            (default 100000 1 16 1024)
 *     random_mixed's shape held for the whole soak: WS slots; each operation picks a
 *     random slot, checks and frees its block if occupied, else mallocs a size
 *     uniform in [MIN, MAX] and writes its first and last byte. The live set settles
 *     at about half the slots within the first epoch and stays there.
 *
 *   soak_workload varying [PEAK LOW_PCT PERIOD SEED SHAPE]  (default 256m 10 80 1 sine)
 *     A live set that rises and falls like a server's over a day. Its target follows
 *     SHAPE between LOW_PCT% and 100% of PEAK bytes with PERIOD seconds of the
 *     workload's own running time t (the sum of its epochs so far); both shapes start
 *     at the low and are back at it at PERIOD, 2 PERIOD, ...:
 *       sine  low + (peak - low) * (1 - cos(2 pi t / PERIOD)) / 2: the peak at PERIOD/2
 *       saw   low + (peak - low) * frac(t / PERIOD): climbs to the peak, then drops to
 *             the low at once
 *     Each operation: below the target, malloc a block and write one byte in every
 *     4 KiB page of it (so it is resident, as a program using it would make it); at
 *     or above the target, check and free a block chosen at random among the live
 *     ones (random frees leave realistic holes). Sizes: a third of the bytes each
 *     from small 16..1024 B, medium 1..64 KiB and large 64 KiB..1 MiB blocks,
 *     uniform within a band (by count ~98.4% small, 1.5% medium, 0.09% large).
 *
 * Protocol, one line each way:
 *   workload: ready workload=M pid=N live_bytes=B ... peak_rss_kb=K rss_kb=K allocator=... [hak_*=N ...]
 *   bench/soak: "epoch SECONDS"   the workload runs for SECONDS of wall-clock time, then
 *   workload: epoch n=K t=T ops=N seconds=S ops_per_sec=R live_bytes=B live_blocks=N
 *             target_bytes=B minflt=N majflt=N cpu_s=S peak_rss_kb=K rss_kb=K allocator=... [hak_*=N ...]
 *   bench/soak: "quit" (or end of input)  the workload checks and frees every block,
 *             prints "done ops=N ... rss_kb=K allocator=..." and exits 0.
 * ops counts malloc and free calls; live_bytes is the bytes requested by every block
 * the workload holds, its own slot table included; minflt, majflt (page faults) and
 * cpu_s (user + system CPU seconds) are cumulative since start-up. Every line ends
 * with the allocator proof of bench/common.h, so every epoch proves its allocator.
 * Exit status as in common.h; 2 also for an unknown command.
 */
#include <math.h>
#include <sys/resource.h>

#include "common.h"

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t tag;
} blk_t;

/* The state both modes share: what the epoch line reports. */
typedef struct {
  const char *mode;
  uint64_t ops;        /* malloc + free calls since start-up */
  uint64_t live_bytes; /* requested bytes of the blocks held, table included */
  uint64_t live_blocks;
  uint64_t target;     /* varying: the target at the end of the last epoch */
  double t;            /* the workload's own running time: the sum of its epochs */
} soak_t;

/* ------------------------------------------------------------ random_mixed */

typedef struct {
  blk_t *slots;
  uint64_t ws, min, max;
  rng_t rng;
} rm_t;

static void rm_init(rm_t *w, soak_t *s, int argc, char **argv) {
  w->ws = arg_u64(argc, argv, 2, 100000, "WS");
  uint64_t seed = arg_u64(argc, argv, 3, 1, "SEED");
  w->min = arg_u64(argc, argv, 4, 16, "MIN");
  w->max = arg_u64(argc, argv, 5, 1024, "MAX");
  if (w->ws == 0 || w->min > w->max) bench_die(BENCH_EXIT_USAGE, "need WS > 0 and MIN <= MAX");
  rng_seed(&w->rng, seed);
  w->slots = calloc(w->ws, sizeof *w->slots);
  if (!w->slots) bench_nomem(w->ws * sizeof *w->slots);
  s->live_bytes = w->ws * sizeof *w->slots;
}

/* Runs until `until` (CLOCK_MONOTONIC); returns the operations done. */
static BENCH_NOINLINE uint64_t rm_run(rm_t *w, soak_t *s, double until) {
  uint64_t ops = 0, live = s->live_bytes, nlive = s->live_blocks, tag = s->ops;
  for (;;) {
    for (int i = 0; i < 1024; i++) {
      uint64_t r = rng_next(&w->rng);
      blk_t *b = &w->slots[(uint64_t)(((unsigned __int128)r * w->ws) >> 64)];
      if (b->p) {
        pat_check_ends(b->p, b->size, b->tag);
        free(b->p);
        b->p = NULL;
        live -= b->size;
        nlive--;
      } else {
        size_t size = (size_t)rng_range(&w->rng, w->min, w->max);
        unsigned char *p = malloc(size);
        if (BENCH_UNLIKELY(!p)) bench_nomem(size);
        b->p = p;
        b->size = size;
        b->tag = ++tag;
        pat_write_ends(p, size, b->tag);
        live += size;
        nlive++;
      }
    }
    ops += 1024;
    if (now_sec() >= until) break;
  }
  s->live_bytes = live;
  s->live_blocks = nlive;
  return ops;
}

static void rm_finish(rm_t *w, soak_t *s) {
  for (uint64_t i = 0; i < w->ws; i++) {
    blk_t *b = &w->slots[i];
    if (!b->p) continue;
    pat_check_ends(b->p, b->size, b->tag);
    free(b->p);
    s->ops++;
  }
  free(w->slots);
  s->live_bytes = s->live_blocks = 0;
}

/* ----------------------------------------------------------------- varying */

typedef struct {
  blk_t *blk;
  size_t n, cap;
  uint64_t peak, low;
  double period;
  int saw;
  double p_small, p_medium; /* probability of a small, of a medium block (by count) */
  rng_t rng;
} vl_t;

enum { SMALL_MIN = 16, SMALL_MAX = 1024, MEDIUM_MAX = 64 << 10, LARGE_MAX = 1 << 20 };

static void vl_init(vl_t *w, soak_t *s, int argc, char **argv) {
  w->peak = arg_u64(argc, argv, 2, 256ull << 20, "PEAK");
  uint64_t low_pct = arg_u64(argc, argv, 3, 10, "LOW_PCT");
  w->period = arg_double(argc, argv, 4, 80, "PERIOD");
  uint64_t seed = arg_u64(argc, argv, 5, 1, "SEED");
  const char *shape = argc > 6 && strcmp(argv[6], "-") != 0 ? argv[6] : "sine";
  if (strcmp(shape, "sine") == 0) w->saw = 0;
  else if (strcmp(shape, "saw") == 0) w->saw = 1;
  else bench_die(BENCH_EXIT_USAGE, "bad SHAPE '%s' (sine or saw)", shape);
  if (low_pct > 100 || w->period <= 0 || w->peak < (1 << 20))
    bench_die(BENCH_EXIT_USAGE, "need LOW_PCT <= 100, PERIOD > 0, PEAK >= 1m");
  w->low = w->peak / 100 * low_pct;
  rng_seed(&w->rng, seed);
  /* Equal bytes per band: a band's share by count is proportional to 1 / its mean size. */
  double ws = 2.0 / (SMALL_MIN + SMALL_MAX), wm = 2.0 / (SMALL_MAX + 1 + MEDIUM_MAX),
         wl = 2.0 / (MEDIUM_MAX + 1 + LARGE_MAX);
  w->p_small = ws / (ws + wm + wl);
  w->p_medium = wm / (ws + wm + wl);
  w->cap = 1024;
  w->blk = malloc(w->cap * sizeof *w->blk);
  if (!w->blk) bench_nomem(w->cap * sizeof *w->blk);
  s->live_bytes = w->cap * sizeof *w->blk;
}

static uint64_t vl_target(const vl_t *w, double t) {
  double x = t / w->period, f;
  if (w->saw) f = x - floor(x);
  else f = (1.0 - cos(2.0 * M_PI * x)) / 2.0;
  return w->low + (uint64_t)((double)(w->peak - w->low) * f);
}

static size_t vl_size(vl_t *w) {
  double u = (double)(rng_next(&w->rng) >> 11) * 0x1p-53;
  if (u < w->p_small) return (size_t)rng_range(&w->rng, SMALL_MIN, SMALL_MAX);
  if (u < w->p_small + w->p_medium) return (size_t)rng_range(&w->rng, SMALL_MAX + 1, MEDIUM_MAX);
  return (size_t)rng_range(&w->rng, MEDIUM_MAX + 1, LARGE_MAX);
}

static void vl_check_free(blk_t *b) {
  pat_check_ends(b->p, b->size, b->tag);
  pat_check_pages(b->p, 0, b->size, b->tag);
  free(b->p);
}

/* Runs until `until`; `start` is when this epoch began (s->t is the running time then). */
static BENCH_NOINLINE uint64_t vl_run(vl_t *w, soak_t *s, double start, double until) {
  uint64_t ops = 0, live = s->live_bytes, tag = s->ops;
  uint64_t target = vl_target(w, s->t);
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (live < target || w->n == 0) {
        if (w->n == w->cap) {
          size_t ncap = w->cap * 2;
          blk_t *nb = realloc(w->blk, ncap * sizeof *nb);
          if (!nb) bench_nomem(ncap * sizeof *nb);
          live += (ncap - w->cap) * sizeof *nb;
          w->blk = nb;
          w->cap = ncap;
        }
        size_t size = vl_size(w);
        unsigned char *p = malloc(size);
        if (BENCH_UNLIKELY(!p)) bench_nomem(size);
        blk_t *b = &w->blk[w->n++];
        b->p = p;
        b->size = size;
        b->tag = ++tag;
        pat_write_ends(p, size, b->tag);
        pat_write_pages(p, 0, size, b->tag);
        live += size;
      } else {
        size_t k = (size_t)rng_below(&w->rng, w->n);
        blk_t *b = &w->blk[k];
        live -= b->size;
        vl_check_free(b);
        *b = w->blk[--w->n];
      }
    }
    ops += 64;
    double now = now_sec();
    if (now >= until) break;
    target = vl_target(w, s->t + (now - start));
  }
  s->live_bytes = live;
  s->live_blocks = w->n;
  s->target = target;
  return ops;
}

static void vl_finish(vl_t *w, soak_t *s) {
  for (size_t i = 0; i < w->n; i++) {
    vl_check_free(&w->blk[i]);
    s->ops++;
  }
  free(w->blk);
  w->n = 0;
  s->live_bytes = s->live_blocks = 0;
}

/* ---------------------------------------------------------------- protocol */

static void put_state(const soak_t *s) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec * 1e-6;
  res_add(" live_bytes=%" PRIu64 " live_blocks=%" PRIu64 " target_bytes=%" PRIu64 " minflt=%ld majflt=%ld"
          " cpu_s=%.3f",
          s->live_bytes, s->live_blocks, s->target, ru.ru_minflt, ru.ru_majflt, cpu);
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv,
                    "random_mixed [WS SEED MIN MAX]   (default 100000 1 16 1024)\n"
                    "       soak_workload varying [PEAK LOW_PCT PERIOD SEED SHAPE]   (default 256m 10 80 1 sine)\n"
                    "Driven by bench/soak over stdin: 'epoch SECONDS' runs and reports, 'quit' ends.");
  if (argc < 2) bench_die(BENCH_EXIT_USAGE, "no MODE (random_mixed or varying); -h for help");
  soak_t s = {.mode = argv[1]};
  rm_t rm;
  vl_t vl;
  int varying = 0;
  if (strcmp(argv[1], "random_mixed") == 0) {
    rm_init(&rm, &s, argc, argv);
  } else if (strcmp(argv[1], "varying") == 0) {
    varying = 1;
    vl_init(&vl, &s, argc, argv);
    s.target = vl_target(&vl, 0);
  } else {
    bench_die(BENCH_EXIT_USAGE, "unknown MODE '%s' (random_mixed or varying)", argv[1]);
  }

  bench_res_len = 0;
  res_add("ready workload=%s pid=%ld", s.mode, (long)getpid());
  put_state(&s);
  res_end();

  char cmd[128];
  uint64_t n = 0;
  while (fgets(cmd, sizeof cmd, stdin)) {
    double secs;
    if (strncmp(cmd, "quit", 4) == 0) break;
    if (sscanf(cmd, "epoch %lf", &secs) != 1 || !(secs > 0))
      bench_die(BENCH_EXIT_USAGE, "unknown command: %s", cmd);
    double t0 = now_sec();
    uint64_t ops = varying ? vl_run(&vl, &s, t0, t0 + secs) : rm_run(&rm, &s, t0 + secs);
    double dt = now_sec() - t0;
    s.ops += ops;
    s.t += dt;
    bench_res_len = 0;
    res_add("epoch n=%" PRIu64 " t=%.3f ops=%" PRIu64 " seconds=%.6f ops_per_sec=%.6g", ++n, s.t, ops, dt,
            dt > 0 ? (double)ops / dt : 0.0);
    put_state(&s);
    res_end();
  }

  if (varying) vl_finish(&vl, &s);
  else rm_finish(&rm, &s);
  bench_res_len = 0;
  res_add("done workload=%s epochs=%" PRIu64 " ops=%" PRIu64, s.mode, n, s.ops);
  put_state(&s);
  res_end();
  return 0;
}
