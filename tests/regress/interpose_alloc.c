/* interpose_alloc.c — regression test (fixed; it failed before): hakmem deadlocks at start-up beside an
 * mmap interposer whose hook allocates.
 *
 * hakmem calls the public mmap (so an LD_PRELOADed interposer of mmap sees
 * every mapping it makes), and makes its first mapping — the chunk its
 * thread-heap records are carved from — from heap_record_alloc() (src/heap.c)
 * while it holds heap_lock, on a thread that has no heap yet. If the hook
 * allocates there, the allocation comes back into hakmem, which has no heap
 * for the thread, goes to hak_heap_init_thread() -> heap_record_alloc() and
 * waits for heap_lock, held by the same thread below it: a self-deadlock,
 * before main. Hooks allocate there in real life: glibc 2.36's dlsym builds
 * its "undefined symbol" message with malloc (an interposer probing an
 * optional symbol), and glibc before 2.34 calloc'ed in every thread's first
 * dlsym (_dlerror_run); tracing tools also record mappings in malloc'ed tables.
 * The stack of the hang (gdb):
 *   heap_record_alloc <- hak_heap_init_thread <- hak_malloc_generic <- malloc
 *   <- _dl_exception_create_format <- ... dlsym <- mmap (interposer)
 *   <- hak_os_alloc_aligned <- heap_record_alloc <- hak_heap_init_thread
 *   <- (hakmem's constructor)
 * Expected: the program starts; hakmem should not hold a lock across an OS
 * call that can be interposed (or call the kernel directly: syscall(SYS_mmap)),
 * and an allocation made from inside its own mmap call must be served.
 *
 * The interposer is tests/interpose_mmap.c (HAKTEST_INTERPOSE=dlerror: the
 * hook's first call looks up a missing symbol; calloc: it callocs). This
 * program runs itself four times — both modes, both LD_PRELOAD orders — with
 * a 3-second alarm each, and fails if any run hangs or fails. The variant
 * whose hook does not allocate passes (tests/interpose.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static void *thread_main(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) free(malloc((size_t)i * 100 + 1));
  return malloc(77);
}

/* What each run does once it got to main: allocate, in a thread too. */
static int child_main(void) {
  hk_require();
  long (*count)(int);
  *(void **)&count = dlsym(RTLD_DEFAULT, "interpose_mmap_count");
  if (count == NULL) return 3;
  void *p = malloc(100), *q = malloc(8 << 20);
  pthread_t t;
  void *r = NULL;
  if (pthread_create(&t, NULL, thread_main, NULL) != 0) return 4;
  pthread_join(t, &r);
  if (!p || !q || !r || !hk_owns(p) || !hk_owns(q) || !hk_owns(r)) return 5;
  free(p);
  free(q);
  free(r);
  printf("child: interposer saw %ld mmap calls\n", count(0));
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child_main();
  hk_require();
  char exe[PATH_MAX], dir[PATH_MAX], hook[PATH_MAX + 64], both[3 * PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  REQUIRE(n > 0);
  exe[n] = 0;
  strcpy(dir, exe);
  snprintf(hook, sizeof hook, "%s/../libinterpose_mmap.so", dirname(dir));
  REQUIRE(access(hook, R_OK) == 0);
  Dl_info info;
  REQUIRE(dladdr((void *)hk_owns, &info) != 0 && info.dli_fname != NULL);
  const char *lib = info.dli_fname;

  static const char *const modes[] = {"dlerror", "calloc"};
  pid_t pids[4];
  const char *what[4];
  for (int k = 0; k < 4; k++) {
    const char *mode = modes[k / 2];
    if (k % 2 == 0) snprintf(both, sizeof both, "%s %s", hook, lib);
    else snprintf(both, sizeof both, "%s %s", lib, hook);
    what[k] = k == 0 ? "dlerror, interposer first" : k == 1 ? "dlerror, hakmem first"
            : k == 2 ? "calloc, interposer first" : "calloc, hakmem first";
    fflush(stdout);
    pids[k] = fork();
    REQUIRE(pids[k] >= 0);
    if (pids[k] == 0) {
      setenv("HAKTEST_INTERPOSE", mode, 1);
      setenv("LD_PRELOAD", both, 1);
      alarm(3); /* survives execve: a hang in the loader ends by SIGALRM */
      execl(exe, exe, "child", (char *)NULL);
      _exit(127);
    }
  }
  for (int k = 0; k < 4; k++) {
    int st = 0;
    while (waitpid(pids[k], &st, 0) < 0 && errno == EINTR) {}
    if (WIFSIGNALED(st))
      CHECKF(0, "%s: killed by %s%s", what[k], strsignal(WTERMSIG(st)),
             WTERMSIG(st) == SIGALRM ? " (hung for 3 s: deadlock)" : "");
    else
      CHECKF(WEXITSTATUS(st) == 0, "%s: exit status %d", what[k], WEXITSTATUS(st));
  }
  return check_exit("interpose_alloc");
}
