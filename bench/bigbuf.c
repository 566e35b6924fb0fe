/* bigbuf [STEPS LIVE SEED MIN MAX]
 *
 * Big buffers replaced one at a time, as a program that keeps ~20 images,
 * decoded frames or I/O buffers does: LIVE buffers (default 20) of MIN..MAX
 * bytes (default 5m..25m, uniform), and STEPS (default 400) times one of them,
 * chosen at random, is freed and a new one allocated and zero-filled by the
 * program (memset, as such programs do). Every buffer is checked at its
 * ends before free. ops = malloc + free calls. An allocator that gives each
 * buffer back to the OS and maps the next one fresh pays page faults on every
 * allocation; one that reuses the memory does not.
 */
#include "common.h"

int main(int argc, char **argv) {
  bench_usage_check(argc, argv, "[STEPS LIVE SEED MIN MAX]   (default 400 20 1 5m 25m)");
  uint64_t steps = arg_u64(argc, argv, 1, 400, "STEPS");
  uint64_t live = arg_u64(argc, argv, 2, 20, "LIVE");
  uint64_t seed = arg_u64(argc, argv, 3, 1, "SEED");
  size_t min = (size_t)arg_u64(argc, argv, 4, 5 << 20, "MIN");
  size_t max = (size_t)arg_u64(argc, argv, 5, 25 << 20, "MAX");
  if (live == 0 || min < 64 || min > max) bench_die(BENCH_EXIT_USAGE, "need LIVE > 0 and 64 <= MIN <= MAX");
  unsigned char **buf = calloc(live, sizeof *buf);
  size_t *size = calloc(live, sizeof *size);
  uint64_t *tag = calloc(live, sizeof *tag);
  if (!buf || !size || !tag) bench_nomem(live * sizeof *buf);
  rng_t rng;
  rng_seed(&rng, seed);
  uint64_t ops = 0, next = 1;

  double t0 = bench_start();
  for (uint64_t i = 0; i < live + steps; i++) {
    size_t k = i < live ? (size_t)i : (size_t)rng_below(&rng, live);
    if (buf[k]) {
      pat_check_ends(buf[k], size[k], tag[k]);
      free(buf[k]);
      ops++;
    }
    size[k] = (size_t)rng_range(&rng, min, max);
    buf[k] = malloc(size[k]);
    if (!buf[k]) bench_nomem(size[k]);
    memset(buf[k], 0, size[k]);
    tag[k] = next++;
    pat_write_ends(buf[k], size[k], tag[k]);
    ops++;
  }
  double secs = bench_stop(t0);
  for (uint64_t k = 0; k < live; k++) {
    pat_check_ends(buf[k], size[k], tag[k]);
    free(buf[k]);
  }
  free(buf);
  free(size);
  free(tag);
  res_begin("bigbuf", ops, secs);
  res_add(" steps=%" PRIu64 " live=%" PRIu64 " seed=%" PRIu64 " min=%zu max=%zu", steps, live, seed, min, max);
  res_end();
  return 0;
}
