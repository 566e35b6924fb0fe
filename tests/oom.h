/* oom.h — helpers for the tests that run out of memory on purpose (rlimit.c,
 * known/rlimit_*.c, known/realloc_shrink_oom.c, known/purge_thread_restart.c).
 *
 *   set_headroom(n)        lower the soft RLIMIT_AS to VmSize + n
 *   lift_limit()           raise it back to the hard limit
 *   fill(size, &list, what) allocate until malloc fails (checked: NULL
 *                          with ENOMEM); the blocks go on an intrusive list
 *   blk_free_all(&list)    verify each block's tags and free it
 *   start_purge_thread()   make hakmem's purge thread run (check.h tells if it does)
 *   pattern(), pattern_ok(), pattern_prefix_ok()     block contents
 *
 * Blocks are kept on lists threaded through themselves, so the tests need no
 * memory of their own while the limit is tight. Include after check.h.
 */
#ifndef HAKTEST_OOM_H
#define HAKTEST_OOM_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "check.h"
#include "hakmem.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

static CHECK_UNUSED void *launder(void *p) {
  __asm__ volatile("" : "+r"(p));
  return p;
}

/* VmSize of this process in bytes: what RLIMIT_AS is compared with. */
static CHECK_UNUSED size_t vm_size(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmSize:", 7) == 0) {
      kb = strtoul(line + 7, NULL, 10);
      break;
    }
  fclose(f);
  return kb * KiB;
}

/* Lower the soft limit to the current address space + headroom. The hard
 * limit stays, so lift_limit can undo it. */
static CHECK_UNUSED void set_headroom(size_t headroom) {
  size_t now = vm_size();
  REQUIRE(now > 0);
  struct rlimit rl;
  REQUIRE(getrlimit(RLIMIT_AS, &rl) == 0);
  rl.rlim_cur = now + headroom;
  REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
}

static CHECK_UNUSED void lift_limit(void) {
  struct rlimit rl;
  REQUIRE(getrlimit(RLIMIT_AS, &rl) == 0);
  rl.rlim_cur = rl.rlim_max;
  REQUIRE(setrlimit(RLIMIT_AS, &rl) == 0);
}

static CHECK_UNUSED void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}/* Make the purge thread start (a freed large block leaves work for it) and
 * wait until it is there. */
static CHECK_UNUSED int start_purge_thread(void) {
  for (int i = 0; i < 50; i++) {
    free(launder(malloc(8 * MiB)));
    if (purge_thread_running()) return 1;
    sleep_ms(10);
  }
  return 0;
}

/* A block on an intrusive list (blocks of more than 24 bytes): the header
 * is checked before freeing; the last byte of the block is a tag too. */
typedef struct blk {
  struct blk *next;
  size_t size;
  uint64_t tag;
} blk_t;

static CHECK_UNUSED uint64_t tag_of(const void *p, size_t size) { return ((uintptr_t)p * 0x9E3779B97F4A7C15ull) ^ size; }

static CHECK_UNUSED void blk_init(void *p, size_t size, blk_t **list) {
  blk_t *b = (blk_t *)p;
  b->next = *list;
  b->size = size;
  b->tag = tag_of(p, size);
  ((unsigned char *)p)[size - 1] = (unsigned char)(b->tag >> 8);
  *list = b;
}

/* Verify and free every block of a list; returns how many were bad. */
static CHECK_UNUSED size_t blk_free_all(blk_t **list) {
  size_t bad = 0;
  blk_t *b = *list;
  while (b != NULL) {
    blk_t *next = b->next;
    if (b->tag != tag_of(b, b->size) || ((unsigned char *)b)[b->size - 1] != (unsigned char)(b->tag >> 8)) bad++;
    free(b);
    b = next;
  }
  *list = NULL;
  return bad;
}

/* Allocate blocks of `size` until malloc fails; returns the bytes obtained.
 * The failure must be NULL with ENOMEM, and must repeat (a few more calls,
 * no crash). */
static CHECK_UNUSED size_t fill(size_t size, blk_t **list, const char *what) {
  size_t got = 0;
  for (;;) {
    errno = 0;
    void *p = malloc(size);
    if (p == NULL) {
      CHECKF(errno == ENOMEM, "%s: malloc(%zu) failed with errno %d, not ENOMEM", what, size, errno);
      for (int i = 0; i < 3; i++) {
        errno = 0;
        void *q = malloc(size);
        if (q != NULL) { /* memory came back meanwhile (a purge): keep going */
          blk_init(q, size, list);
          got += size;
        } else {
          CHECKF(errno == ENOMEM, "%s: repeated malloc(%zu): errno %d", what, size, errno);
        }
      }
      break;
    }
    CHECKF(hak_owns(p), "%s: malloc(%zu) = %p is not hakmem's", what, size, p);
    blk_init(p, size, list);
    got += size;
  }
  return got;
}

/* Fill a block with a pattern / check it. */
static CHECK_UNUSED void pattern(void *p, size_t n, unsigned seed) {
  unsigned char *b = (unsigned char *)p;
  for (size_t i = 0; i + 1 < n; i += 4096 > n - i ? 1 : 509) b[i] = (unsigned char)(i * 7 + seed);
  b[n - 1] = (unsigned char)(seed ^ 0xa5);
}
/* Bytes [0, upto) of a block of n bytes filled by pattern(p, n, seed). */
static CHECK_UNUSED int pattern_prefix_ok(const void *p, size_t n, size_t upto, unsigned seed) {
  const unsigned char *b = (const unsigned char *)p;
  for (size_t i = 0; i + 1 < n && i < upto; i += 4096 > n - i ? 1 : 509)
    if (b[i] != (unsigned char)(i * 7 + seed)) return 0;
  return upto < n || b[n - 1] == (unsigned char)(seed ^ 0xa5);
}
static CHECK_UNUSED int pattern_ok(const void *p, size_t n, unsigned seed) { return pattern_prefix_ok(p, n, n, seed); }

#endif
