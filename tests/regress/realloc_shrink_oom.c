/* realloc_shrink_oom.c — regression test (fixed; it failed before): realloc to a smaller size fails with
 * ENOMEM when the process is out of memory, though the block it has could
 * simply be kept.
 *
 * hak_realloc (src/alloc.c) keeps a block only if the new size is at least
 * half its usable size; otherwise it mallocs a block of the smaller size
 * class, copies and frees. When that malloc fails (no free block of the
 * class, and the OS refuses a new segment), realloc returns NULL. The C
 * standard allows it, but glibc never fails a shrink, and programs routinely
 * shrink buffers without checking (p = realloc(p, used)) — with hakmem under
 * memory pressure such a program loses its buffer or crashes on NULL. Huge
 * blocks shrinking to another huge size are fine (mremap in place); a huge
 * block shrinking below 512 KiB is not.
 *
 * Each case in a child process: allocate the block, fill the RLIMIT_AS
 * headroom with 48-byte blocks and then blocks of the new size until malloc
 * fails, shrink. Expected: a
 * non-NULL result holding the block's first bytes. Today: NULL/ENOMEM for
 * 100 -> 50 B, 40 KiB -> 8 KiB, 400 KiB -> 100 KiB, 16 MiB -> 1000 B. What
 * would fix it: when the smaller block cannot be had, return the old block
 * (it is big enough).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "oom.h"

static void one(size_t from, size_t to) {
  pid_t pid = check_fork();
  if (pid == 0) {
    char *p = malloc(from);
    REQUIRE(p != NULL);
    pattern(p, from, 5);
    set_headroom(8 * MiB);
    blk_t *l = NULL;
    fill(48, &l, "filler");
    fill(to, &l, "filler of the target size"); /* no block of the new size is free */
    errno = 0;
    char *q = realloc(p, to);
    int e = errno;
    CHECKF(q != NULL, "realloc(%zu -> %zu) under a full RLIMIT_AS = NULL, errno %d", from, to, e);
    if (q) {
      CHECKF(pattern_prefix_ok(q, from, to, 5), "realloc(%zu -> %zu) lost the block's contents", from, to);
      p = q;
    } else {
      CHECKF(pattern_ok(p, from, 5), "failed realloc(%zu -> %zu) damaged the block", from, to);
    }
    printf("realloc(%zu -> %zu) under a full limit: %s\n", from, to, q ? "kept" : "NULL");
    CHECKF(blk_free_all(&l) == 0, "blocks damaged");
    free(p);
    fflush(stdout);
    _exit(check_failures() ? 1 : 0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%zu -> %zu: child status 0x%x", from, to, st);
}

int main(void) {
  hk_require();
  one(100, 50);
  one(40 * KiB, 8 * KiB);
  one(400 * KiB, 100 * KiB);
  one(16 * MiB, 1000);
  one(16 * MiB, 2 * MiB); /* huge -> huge: mremap in place (works today) */
  return check_exit("realloc_shrink_oom");
}
