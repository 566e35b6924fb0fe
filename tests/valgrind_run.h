/* valgrind_run.h — run valgrind's memcheck on tests' valgrind_prog (built
 * beside the tests/known/ programs) and collect its output. For
 * tests/known/valgrind_*.c. Include after check.h. */
#ifndef HAKTEST_VALGRIND_RUN_H
#define HAKTEST_VALGRIND_RUN_H

#include <libgen.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs "valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
 * [extra] valgrind_prog mode"; returns its wait status, *out = its stdout and
 * stderr (malloc'ed). Exits the test if valgrind is not installed. */
static CHECK_UNUSED int run_memcheck(const char *extra, const char *mode, char **out) {
  if (access("/usr/bin/valgrind", X_OK) != 0) {
    fprintf(stderr, "FATAL: /usr/bin/valgrind not installed (apt-get install valgrind)\n");
    exit(1);
  }
  char exe[PATH_MAX], prog[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  REQUIRE(n > 0);
  exe[n] = 0;
  snprintf(prog, sizeof prog, "%s/../valgrind_prog", dirname(exe));
  char tmpl[] = "/tmp/hakmem-valgrind.XXXXXX";
  int fd = mkstemp(tmpl);
  REQUIRE(fd >= 0);
  unlink(tmpl);
  fflush(stdout);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fd, 1);
    dup2(fd, 2);
    if (extra && *extra)
      execl("/usr/bin/valgrind", "valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full", extra, prog,
            mode, (char *)NULL);
    else
      execl("/usr/bin/valgrind", "valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full", prog, mode,
            (char *)NULL);
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  off_t len = lseek(fd, 0, SEEK_END);
  *out = calloc(1, (size_t)len + 1);
  REQUIRE(*out != NULL);
  REQUIRE(pread(fd, *out, (size_t)len, 0) == len);
  close(fd);
  return st;
}

#endif
