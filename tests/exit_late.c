/* exit_late.c — a library whose destructor runs after hakmem's (built as
 * libexit_late.so, linked into tests/exit.c, which runs under LD_PRELOAD).
 *
 * The loader runs a preloaded library's destructors before those of the
 * program's own DT_NEEDED libraries, so this destructor runs after hakmem's
 * exit handling (its stats output, with HAKMEM_STATS=1): like libstdc++'s or
 * any library's static destructors in a preloaded program. It frees the
 * blocks the program left in exit_late_blocks (allocated by threads that
 * may have exited, or may still be running), allocates and grows a block to
 * 8 MiB, and writes one line to stderr so the test can see it ran, and when.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#define NLATE 256
EXPORT void *exit_late_blocks[NLATE];
EXPORT int exit_late_armed; /* set by the program: 0 = do nothing */

__attribute__((destructor)) static void exit_late_destructor(void) {
  if (!exit_late_armed) return;
  for (int i = 0; i < NLATE; i++) {
    void *p = __atomic_exchange_n(&exit_late_blocks[i], NULL, __ATOMIC_ACQ_REL);
    free(p);
  }
  char *p = NULL;
  for (size_t n = 16; n <= ((size_t)8 << 20); n *= 2) {
    char *q = realloc(p, n);
    if (q == NULL) {
      free(p);
      static const char err[] = "exit_late: realloc failed in the late destructor\n";
      (void)!write(2, err, sizeof err - 1);
      _exit(3);
    }
    q[n - 1] = 1;
    p = q;
  }
  free(p);
  char *s = strdup("exit_late: destructor ran\n");
  if (s != NULL) (void)!write(2, s, strlen(s));
  free(s);
}
