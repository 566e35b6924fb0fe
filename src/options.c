/* options.c — the few settings hakmem has, read once from the environment.
 *
 * We scan `environ` by hand: getenv is safe, but other ways of reading the
 * environment may allocate, and this runs inside the first malloc. Every
 * option is listed in docs/CONFIG.md. A profile sets defaults; an explicit
 * variable overrides its profile's value. */
#include <errno.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

hak_options_t hak_options = {
  .profile = "balanced",
  .purge_delay_ms = HAK_DEFAULT_PURGE_DELAY_MS,
  .segment_cache = 16,
  .large_cache_bytes = (size_t)1 << 30,
  .no_thp = false,
  .purge_thread = true,
  .invalid = HAK_INVALID_ABORT,
};

static const char *env_get(const char *name) {
  if (environ == NULL) return NULL;
  size_t n = strlen(name);
  for (char **e = environ; *e != NULL; e++) {
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
  }
  return NULL;
}

static void warn_ignored(const char *name, const char *value) {
  hak_write_stderr("hakmem: warning: ignoring invalid ");
  hak_write_stderr(name);
  hak_write_stderr("=");
  hak_write_stderr(value);
  hak_write_stderr("\n");
}

/* A number with an optional K/M/G suffix (powers of 1024). */
static bool parse_size(const char *s, size_t *out) {
  if (*s == 0) return false;
  size_t v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    size_t d = (size_t)(*s - '0');
    if (v > (SIZE_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  unsigned shift = 0;
  switch (*s) {
    case 0: break;
    case 'k': case 'K': shift = 10; s++; break;
    case 'm': case 'M': shift = 20; s++; break;
    case 'g': case 'G': shift = 30; s++; break;
    default: return false;
  }
  if (*s == 'b' || *s == 'B') s++;
  if (*s != 0) return false;
  if (shift && v > (SIZE_MAX >> shift)) return false;
  *out = v << shift;
  return true;
}

static bool parse_bool(const char *s, bool *out) {
  if (strcmp(s, "1") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0 || strcmp(s, "true") == 0) { *out = true; return true; }
  if (strcmp(s, "0") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0 || strcmp(s, "false") == 0) { *out = false; return true; }
  return false;
}

#if !HAK_FAST
static void apply_profile(const char *name) {
  if (strcmp(name, "speed") == 0) {
    hak_options.profile = "speed";
    hak_options.purge_delay_ms = 1000;
    hak_options.segment_cache = 32;
    hak_options.large_cache_bytes = (size_t)4 << 30;
  } else if (strcmp(name, "balanced") == 0) {
    hak_options.profile = "balanced";
  } else if (strcmp(name, "lean") == 0) {
    hak_options.profile = "lean";
    hak_options.purge_delay_ms = 10;
    hak_options.segment_cache = 16;
    hak_options.large_cache_bytes = (size_t)256 << 20;
    hak_options.no_thp = true;
  } else {
    warn_ignored("HAKMEM_PROFILE", name);
  }
}
#endif

void hak_options_init(void) {
  const char *v;
#if HAK_FAST
  /* the fast build's policy is fixed at compile time (internal.h) */
  hak_options.profile = "balanced-fast";
  static const char *const policy[] = {"HAKMEM_PROFILE", "HAKMEM_PURGE_DELAY", "HAKMEM_SEGMENT_CACHE",
                                       "HAKMEM_LARGE_CACHE", "HAKMEM_NO_THP", "HAKMEM_PURGE_THREAD"};
  for (size_t i = 0; i < sizeof(policy) / sizeof(policy[0]); i++)
    if ((v = env_get(policy[i])) != NULL) {
      hak_write_stderr("hakmem: warning: fast build: the policy is fixed (balanced), ignoring ");
      hak_write_stderr(policy[i]);
      hak_write_stderr("\n");
    }
#else
  if ((v = env_get("HAKMEM_PROFILE")) != NULL) apply_profile(v);
  if ((v = env_get("HAKMEM_PURGE_DELAY")) != NULL) {
    size_t n;
    if (strcmp(v, "-1") == 0 || strcmp(v, "never") == 0) hak_options.purge_delay_ms = -1;
    else if (parse_size(v, &n) && n < ((size_t)1 << 40)) hak_options.purge_delay_ms = (long)n;
    else warn_ignored("HAKMEM_PURGE_DELAY", v);
  }
  if ((v = env_get("HAKMEM_SEGMENT_CACHE")) != NULL) {
    size_t n;
    if (parse_size(v, &n) && n <= 1024) hak_options.segment_cache = n;
    else warn_ignored("HAKMEM_SEGMENT_CACHE", v);
  }
  if ((v = env_get("HAKMEM_LARGE_CACHE")) != NULL) {
    size_t n;
    if (parse_size(v, &n)) hak_options.large_cache_bytes = n;
    else warn_ignored("HAKMEM_LARGE_CACHE", v);
  }
  if ((v = env_get("HAKMEM_NO_THP")) != NULL && !parse_bool(v, &hak_options.no_thp)) warn_ignored("HAKMEM_NO_THP", v);
  if ((v = env_get("HAKMEM_PURGE_THREAD")) != NULL && !parse_bool(v, &hak_options.purge_thread))
    warn_ignored("HAKMEM_PURGE_THREAD", v);
#endif
  if ((v = env_get("HAKMEM_INVALID_FREE")) != NULL) {
    if (strcmp(v, "abort") == 0) hak_options.invalid = HAK_INVALID_ABORT;
    else if (strcmp(v, "warn") == 0) hak_options.invalid = HAK_INVALID_WARN;
    else if (strcmp(v, "ignore") == 0) hak_options.invalid = HAK_INVALID_IGNORE;
    else warn_ignored("HAKMEM_INVALID_FREE", v);
  }
#if HAK_SECURE
  hak_options.invalid = HAK_INVALID_ABORT; /* secure mode: every misuse stops the program */
#endif
  if ((v = env_get("HAKMEM_STATS")) != NULL) {
    bool on;
    if (strcmp(v, "json") == 0) hak_options.stats = 2;
    else if (parse_bool(v, &on)) hak_options.stats = on;
    else warn_ignored("HAKMEM_STATS", v);
  }
  /* the heap profiler (prof.c), in every build flavour */
  if ((v = env_get("HAKMEM_PROF")) != NULL && !parse_bool(v, &hak_options.prof)) warn_ignored("HAKMEM_PROF", v);
  if ((v = env_get("HAKMEM_PROF_LEAKS")) != NULL) {
    if (!parse_bool(v, &hak_options.prof_leaks)) warn_ignored("HAKMEM_PROF_LEAKS", v);
    else if (hak_options.prof_leaks) hak_options.prof = true; /* a leak report needs the profiler */
  }
  if ((v = env_get("HAKMEM_PROF_SAMPLE")) != NULL) {
    size_t n;
    if (parse_size(v, &n) && n >= 1 && n <= ((size_t)1 << 40)) hak_options.prof_sample = n;
    else warn_ignored("HAKMEM_PROF_SAMPLE", v);
  }
  if ((v = env_get("HAKMEM_PROF_SEED")) != NULL) {
    size_t n;
    if (parse_size(v, &n) && n != 0) hak_options.prof_seed = n;
    else warn_ignored("HAKMEM_PROF_SEED", v);
  }
  if ((v = env_get("HAKMEM_PROF_FILE")) != NULL) {
    size_t n = strlen(v);
    if (n > 0 && n < sizeof(hak_options.prof_file) - 16) memcpy(hak_options.prof_file, v, n + 1);
    else warn_ignored("HAKMEM_PROF_FILE", v);
  }
  if ((v = env_get("HAKMEM_STATS_FILE")) != NULL) {
    size_t n = strlen(v);
    if (n > 0 && n < sizeof(hak_options.stats_file)) memcpy(hak_options.stats_file, v, n + 1);
    else warn_ignored("HAKMEM_STATS_FILE", v);
  }
}
