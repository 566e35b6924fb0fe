/* larson [THREADS ROUNDS SLOTS OPS MIN MAX SEED]
 *
 * Server simulation after Larson & Krishnan. THREADS lanes (default: the
 * number of online CPUs) each own SLOTS blocks (default 10000). ROUNDS rounds (default 30). Every round a
 * new thread is started for each lane, inherits the lane's whole set of
 * blocks from the thread of the previous round, and replaces OPS random ones
 * (default 1000000): check the old block and free it, malloc a block of random
 * size in [MIN, MAX] (default 16..512), write its ends. So most frees are of
 * blocks another (by now exited) thread allocated. ops = malloc + free calls
 * of all rounds (2 per replacement; the initial fill is not counted).
 */
#include "common.h"

typedef struct {
  unsigned char **p;
  uint32_t *size;
  uint64_t *tag;
  uint64_t slots, ops, min, max, seed, round;
  uint64_t done;
} lane_t;

static void fill(lane_t *l) {
  rng_t rng;
  rng_seed(&rng, l->seed ^ 0xABCDEFull);
  for (uint64_t i = 0; i < l->slots; i++) {
    size_t size = (size_t)rng_range(&rng, l->min, l->max);
    l->p[i] = malloc(size);
    if (!l->p[i]) bench_nomem(size);
    l->size[i] = (uint32_t)size;
    l->tag[i] = i;
    pat_write_ends(l->p[i], size, i);
  }
}

static void *lane_thread(void *arg) {
  lane_t *l = arg;
  rng_t rng;
  rng_seed(&rng, l->seed * 1000003u + l->round);
  uint64_t base = (l->round + 1) << 40;
  for (uint64_t k = 0; k < l->ops; k++) {
    uint64_t i = rng_below(&rng, l->slots);
    pat_check_ends(l->p[i], l->size[i], l->tag[i]);
    free(l->p[i]);
    size_t size = (size_t)rng_range(&rng, l->min, l->max);
    unsigned char *p = malloc(size);
    if (BENCH_UNLIKELY(!p)) bench_nomem(size);
    l->p[i] = p;
    l->size[i] = (uint32_t)size;
    l->tag[i] = base + k;
    pat_write_ends(p, size, base + k);
  }
  l->done += 2 * l->ops;
  return NULL;
}

int main(int argc, char **argv) {
  bench_usage_check(argc, argv,
                    "[THREADS ROUNDS SLOTS OPS MIN MAX SEED]   (default ncpu 30 10000 1000000 16 512 1)");
  uint64_t threads = arg_u64(argc, argv, 1, (uint64_t)bench_ncpu(), "THREADS");
  uint64_t rounds = arg_u64(argc, argv, 2, 30, "ROUNDS");
  uint64_t slots = arg_u64(argc, argv, 3, 10000, "SLOTS");
  uint64_t ops = arg_u64(argc, argv, 4, 1000000, "OPS");
  uint64_t min = arg_u64(argc, argv, 5, 16, "MIN");
  uint64_t max = arg_u64(argc, argv, 6, 512, "MAX");
  uint64_t seed = arg_u64(argc, argv, 7, 1, "SEED");
  if (threads == 0 || slots == 0 || min > max || max > UINT32_MAX)
    bench_die(BENCH_EXIT_USAGE, "need THREADS > 0, SLOTS > 0, MIN <= MAX < 4 GiB");

  lane_t *lanes = calloc(threads, sizeof *lanes);
  pthread_t *tids = calloc(threads, sizeof *tids);
  if (!lanes || !tids) bench_nomem(threads * sizeof *lanes);
  for (uint64_t t = 0; t < threads; t++) {
    lane_t *l = &lanes[t];
    l->slots = slots;
    l->ops = ops;
    l->min = min;
    l->max = max;
    l->seed = seed * 7919 + t;
    l->p = calloc(slots, sizeof *l->p);
    l->size = calloc(slots, sizeof *l->size);
    l->tag = calloc(slots, sizeof *l->tag);
    if (!l->p || !l->size || !l->tag) bench_nomem(slots * sizeof *l->p);
    fill(l); /* by the main thread: even round 0 frees foreign blocks */
  }

  double t0 = bench_start();
  for (uint64_t r = 0; r < rounds; r++) {
    for (uint64_t t = 0; t < threads; t++) {
      lanes[t].round = r;
      tids[t] = bench_thread(lane_thread, &lanes[t]);
    }
    for (uint64_t t = 0; t < threads; t++) pthread_join(tids[t], NULL);
  }
  double secs = bench_stop(t0);

  uint64_t total = 0;
  for (uint64_t t = 0; t < threads; t++) {
    lane_t *l = &lanes[t];
    total += l->done;
    for (uint64_t i = 0; i < slots; i++) {
      pat_check_ends(l->p[i], l->size[i], l->tag[i]);
      free(l->p[i]);
    }
    free(l->p);
    free(l->size);
    free(l->tag);
  }
  free(lanes);
  free(tids);

  res_begin("larson", total, secs);
  res_add(" threads=%" PRIu64 " rounds=%" PRIu64 " slots=%" PRIu64 " ops_per_round=%" PRIu64 " min=%" PRIu64
          " max=%" PRIu64 " seed=%" PRIu64,
          threads, rounds, slots, ops, min, max, seed);
  res_end();
  return 0;
}
