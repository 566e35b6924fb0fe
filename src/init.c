/* init.c — process start-up, fork and exit.
 *
 * hak_init runs exactly once, on whichever comes first: the library
 * constructor or the first allocation (which may come from the dynamic loader,
 * another library's constructor, or a new thread's first realloc/free). It
 * calls nothing that allocates before the allocator is usable: the
 * environment is read by hand, and the pthread key and fork handlers are
 * registered only once the core works, so that any allocation they make is
 * served normally. */
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "prof.h"

_Atomic(int) hak_init_state;
uintptr_t hak_secret;

void hak_lock(pthread_mutex_t *m) {
  if (pthread_mutex_lock(m) != 0) hak_fatal("pthread_mutex_lock failed");
}

static void atfork_prepare(void) {
  hak_prof_atfork_prepare();
  hak_release_atfork_prepare();
  hak_heap_atfork_prepare();
  hak_segment_atfork_prepare();
  hak_large_atfork_prepare();
}

static void atfork_parent(void) {
  hak_large_atfork_parent();
  hak_segment_atfork_parent();
  hak_heap_atfork_parent();
  hak_release_atfork_parent();
  hak_prof_atfork_parent();
}

static void atfork_child(void) {
  hak_large_atfork_child();
  hak_segment_atfork_child();
  hak_heap_atfork_child();
  hak_release_atfork_child();
  hak_prof_atfork_child();
}

static uintptr_t make_secret(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uintptr_t x = (uintptr_t)&ts ^ ((uintptr_t)ts.tv_nsec << 17) ^ (uintptr_t)ts.tv_sec ^ ((uintptr_t)getpid() << 33);
  x ^= x >> 31; x *= 0x7fb5d329728ea185ULL; x ^= x >> 27; x *= 0x81dadef4bc2dd44dULL; x ^= x >> 33;
  return x | 1;
}

void hak_init(void) {
  int expect = 0;
  if (!atomic_compare_exchange_strong(&hak_init_state, &expect, 1)) {
    while (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2) sched_yield();
    return;
  }
  hak_secret = make_secret();
#if HAK_SECURE
  hak_secret ^= hak_secure_entropy(); /* it keys the free-list links */
#endif
  hak_os_init(hak_secret);
  hak_options_init();
  hak_prof_init();
  hak_stats_init();
  hak_heap_key_create();
  atomic_store_explicit(&hak_init_state, 2, memory_order_release);
  /* may allocate (glibc keeps fork handlers in a growable array): fine now */
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* Initialise before main and before the first fork, and make the main
 * thread's heap now rather than inside its first malloc. */
__attribute__((constructor(101))) static void hak_process_init(void) {
  if (atomic_load(&hak_init_state) != 2) hak_init();
  if (hak_heap_tls == &hak_heap_empty) hak_heap_init_thread();
  hak_prof_start(); /* HAKMEM_PROF: map the tables, prime the unwinder */
}

__attribute__((destructor(101))) static void hak_process_done(void) {
  hak_prof_at_exit(); /* HAKMEM_PROF: write the profile (and the leak report) */
  hak_stats_at_exit();
}
