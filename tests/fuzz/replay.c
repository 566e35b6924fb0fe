/* replay.c — main() for the fuzzing harness without libFuzzer: runs each
 * input file (or every file of a directory) once, in order, in this one
 * process, as libFuzzer would replay them.
 *
 * usage: replay_alloc FILE|DIR...
 * Prints one line per input, then "replay: N inputs passed"; a failing input
 * aborts with the harness's "fuzz_alloc: FAIL ..." line (the name of the
 * input is printed before it runs).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hakmem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
uint64_t fuzz_alloc_inputs(void);
uint64_t fuzz_alloc_blocks(void);

#define REPLAY_MAX (1 << 20)
static uint8_t buf[REPLAY_MAX];

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 1;
  }
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  printf("replay: %s (%zu bytes)", path, n);
  fflush(stdout);
  LLVMFuzzerTestOneInput(buf, n);
  hak_stats_t st;
  hak_stats_get(&st);
  printf(": then %llu segments, %llu KiB mapped, %llu abandoned in all\n", (unsigned long long)st.segments,
         (unsigned long long)st.mapped_bytes / 1024, (unsigned long long)st.segments_abandoned);
  return 0;
}


static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: cannot stat %s\n", path);
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  struct dirent **names;
  int n = scandir(path, &names, NULL, alphasort);
  if (n < 0) {
    fprintf(stderr, "replay: cannot read %s\n", path);
    return 1;
  }
  int bad = 0;
  for (int i = 0; i < n; i++) {
    if (names[i]->d_name[0] != '.') {
      char full[4096];
      snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
      bad |= run_file(full);
    }
    free(names[i]);
  }
  free(names);
  return bad;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return 2;
  }
  LLVMFuzzerInitialize(&argc, &argv);
  int bad = 0;
  for (int i = 1; i < argc; i++) bad |= run_path(argv[i]);
  hak_stats_t st;
  hak_stats_get(&st);
  printf("replay: %llu inputs, %llu blocks checked; hakmem carved %llu blocks, %llu large\n",
         (unsigned long long)fuzz_alloc_inputs(), (unsigned long long)fuzz_alloc_blocks(),
         (unsigned long long)st.blocks_carved, (unsigned long long)st.large_allocs);
  if (bad || fuzz_alloc_inputs() == 0) {
    printf("replay: failed (%s)\n", bad ? "unreadable input" : "no input");
    return 1;
  }
  printf("replay: %llu inputs passed\n", (unsigned long long)fuzz_alloc_inputs());
  return 0;
}
