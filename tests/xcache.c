/* xcache.c — remote frees are batched per page (src/xcache.c); a batch must
 * reach its page when the freeing thread exits, when it calls hak_collect,
 * and when it forks, even if it never allocates again.
 *
 * The main thread allocates BLOCKS blocks of 112 bytes (one page). A second
 * thread, which has a heap (it allocated), frees FREED of them (fewer than a
 * batch, one page: they stay in its cache), then:
 *   case exit:    exits; the main thread collects: the class's live blocks
 *                 dropped by FREED;
 *   case collect: calls hak_collect and waits; the same, while it is alive;
 *   case fork:    forks (the child exits at once) and waits; the same.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define SIZE 112
#define BLOCKS 40
#define FREED 10

enum { CASE_EXIT, CASE_COLLECT, CASE_FORK };
static void *blocks[BLOCKS];
static _Atomic int stage;

static uint64_t live_blocks(void) {
  hak_class_stats_t cls[128];
  int n = hak_stats_classes(cls, 128);
  for (int i = 0; i < n && i < 128; i++)
    if (cls[i].block_size == SIZE) return cls[i].live_blocks;
  return 0;
}

static void *remote(void *arg) {
  int mode = (int)(intptr_t)arg;
  free(malloc(SIZE * 3)); /* this thread has a heap: its remote frees are cached */
  for (int i = 0; i < FREED; i++) free(blocks[i]);
  if (mode == CASE_COLLECT) hak_collect();
  if (mode == CASE_FORK) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    int st;
    waitpid(pid, &st, 0);
  }
  if (mode != CASE_EXIT) {
    atomic_store(&stage, 1);
    while (atomic_load(&stage) != 2) sched_yield();
  }
  return NULL;
}

static void run(int mode, const char *name) {
  for (int i = 0; i < BLOCKS; i++) blocks[i] = malloc(SIZE);
  hak_collect();
  uint64_t before = live_blocks();
  atomic_store(&stage, 0);
  pthread_t t;
  REQUIRE(pthread_create(&t, NULL, remote, (void *)(intptr_t)mode) == 0);
  if (mode != CASE_EXIT)
    while (atomic_load(&stage) != 1) sched_yield();
  else
    pthread_join(t, NULL);
  hak_collect(); /* takes the page's remote frees */
  uint64_t after = live_blocks();
  CHECKF(before - after == FREED, "%s: live blocks of %d bytes %llu before, %llu after (want %d fewer)", name, SIZE,
         (unsigned long long)before, (unsigned long long)after, FREED);
  if (mode != CASE_EXIT) {
    atomic_store(&stage, 2);
    pthread_join(t, NULL);
  }
  for (int i = FREED; i < BLOCKS; i++) free(blocks[i]);
}

int main(void) {
  hk_require();
  run(CASE_EXIT, "exit");
  run(CASE_COLLECT, "collect");
  run(CASE_FORK, "fork");
  return check_exit("xcache");
}
