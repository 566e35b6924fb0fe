/* hakmem — a general-purpose memory allocator for Linux.
 *
 * Loaded with LD_PRELOAD or linked with -lhakmem, hakmem replaces malloc, free
 * and every other standard allocation entry point (C and C++). The hak_*
 * functions below are the same allocator under prefixed names, usable without
 * overriding anything.
 */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION_MAJOR 0
#define HAKMEM_VERSION_MINOR 1
#define HAKMEM_VERSION_PATCH 0

#if defined(__GNUC__)
#define HAK_EXPORT __attribute__((visibility("default")))
#define HAK_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define HAK_EXPORT
#define HAK_MALLOC_ATTR
#endif

/* "hakmem 0.1.0" */
HAK_EXPORT const char *hak_version(void);

/* Allocation. Same contracts as the C functions without the prefix:
 * results are 16-byte aligned at least, hak_malloc(0) returns a unique
 * pointer, failures return NULL with errno = ENOMEM, hak_free(NULL) is a
 * no-op and hak_free preserves errno. hak_realloc(p, 0) frees p and returns
 * NULL (glibc's behaviour). */
HAK_EXPORT HAK_MALLOC_ATTR void *hak_malloc(size_t size);
HAK_EXPORT HAK_MALLOC_ATTR void *hak_calloc(size_t count, size_t size);
HAK_EXPORT void *hak_realloc(void *p, size_t size);
HAK_EXPORT void *hak_reallocarray(void *p, size_t count, size_t size);
HAK_EXPORT void hak_free(void *p);
/* free with the size (or alignment and size) the block was requested with. */
HAK_EXPORT void hak_free_sized(void *p, size_t size);
HAK_EXPORT void hak_free_aligned_sized(void *p, size_t alignment, size_t size);

/* alignment must be a power of two; otherwise NULL with errno = EINVAL.
 * Any power of two is supported (alignments of 4 MiB and more get a mapping
 * of their own). */
HAK_EXPORT HAK_MALLOC_ATTR void *hak_aligned_alloc(size_t alignment, size_t size);
/* Returns 0, EINVAL or ENOMEM; *out is written only on success. */
HAK_EXPORT int hak_posix_memalign(void **out, size_t alignment, size_t size);

/* Bytes usable at p (>= the size requested); 0 for NULL. */
HAK_EXPORT size_t hak_usable_size(const void *p);

/* 1 if p points to the start of a block hakmem handed out (or into a block
 * returned by an aligned allocation), else 0. Never crashes on foreign
 * pointers. */
HAK_EXPORT int hak_owns(const void *p);

/* Give cached and free memory back to the OS now: the calling thread's free
 * pages, the shared segment cache and the large-block cache. */
HAK_EXPORT void hak_collect(void);

/* Heap profiling (HAKMEM_PROF=1, docs/PROFILING.md): write the sampled live
 * heap now, in gperftools' heap-profile format (google-pprof reads it), to
 * path (NULL: HAKMEM_PROF_FILE, else hakmem.PID.heap), and the same as folded
 * stacks to path.folded. Returns 0, or -1 with errno set (ENOTSUP when
 * profiling is off, or the error of open/write). */
HAK_EXPORT int hak_prof_dump(const char *path);

/* Counters, process-wide. Event counts are cumulative since start-up. */
typedef struct hak_stats_s {
  uint64_t os_mmap;            /* mmap calls */
  uint64_t os_munmap;          /* munmap calls */
  uint64_t os_madvise;         /* madvise calls (purges) */
  uint64_t os_mremap;          /* mremap calls */
  uint64_t mapped_bytes;       /* bytes currently mapped from the OS */
  uint64_t mapped_peak;        /* peak of mapped_bytes */
  uint64_t purged_bytes;       /* bytes given back with madvise, cumulative */
  uint64_t segments;           /* segments currently live */
  uint64_t segments_peak;
  uint64_t segments_abandoned; /* handed to the shared pool at thread exit */
  uint64_t segments_reclaimed; /* adopted back from the shared pool */
  uint64_t pages_fresh;        /* pages taken into use, cumulative */
  uint64_t blocks_carved;      /* small/medium blocks ever made available */
  uint64_t malloc_generic;     /* calls that left the allocation fast path */
  uint64_t large_allocs;       /* blocks given their own mapping */
  uint64_t large_cache_hits;   /* of those, served from the reuse cache */
  uint64_t heaps_created;      /* thread heaps created (threads that allocated) */
  uint64_t heaps_live;
  uint64_t invalid_frees;      /* pointers refused by free/realloc */
  uint64_t units_detached;     /* parts of pages in use taken off their free list to be purged */
  uint64_t units_reattached;   /* of those, taken back into use */
  /* purges by kind (the bytes add up to purged_bytes) and cache expiry */
  uint64_t purged_page_bytes;  /* whole free pages */
  uint64_t purged_unit_bytes;  /* free parts of pages in use (sub-page purge) */
  uint64_t purged_segment_bytes; /* empty segments before they enter the cache */
  uint64_t expired_segments;   /* cached empty segments unmapped after the decay time */
  uint64_t expired_large;      /* cached large mappings unmapped after the decay time */
  uint64_t cache_regrets;      /* fresh mappings made soon after the caches gave such memory back
                                  (each lengthens the caches' decay, see docs/CONFIG.md) */
  /* A census taken when hak_stats_get is called (it walks every page: a few
   * microseconds per MiB of heap; figures of other running threads' pages
   * are a racy snapshot): */
  uint64_t live_bytes;         /* bytes of blocks handed out (block sizes) */
  uint64_t committed_bytes;    /* bytes hakmem holds and has not given back: carved parts of
                                  pages in use minus purged parts, dirty free pages, segment
                                  headers, large mappings live or cached */
  uint64_t resident_bytes;     /* the process's resident set (VmRSS), all of it */
} hak_stats_t;

HAK_EXPORT void hak_stats_get(hak_stats_t *out);
/* Writes the counters as "hakmem: name value" lines, then one line per size
 * class in use, "hakmem: class SIZE blocks N pages P committed BYTES", to fd,
 * without allocating. */
HAK_EXPORT void hak_stats_print(int fd);
/* The same as one JSON object on one line. */
HAK_EXPORT void hak_stats_print_json(int fd);

/* Memory by size class (a census, as above). */
typedef struct hak_class_stats_s {
  uint64_t block_size;
  uint64_t live_blocks;        /* handed out (including freed by other threads, not yet collected) */
  uint64_t pages;              /* pages of this class in use */
  uint64_t committed_bytes;    /* carved bytes of those pages, minus purged parts */
} hak_class_stats_t;
/* Fills out[0..n) for the size classes (n = min(max, number of classes));
 * returns the number of classes. Blocks above 512 KiB are not in a class:
 * their live bytes are live_bytes minus the classes' live_blocks*block_size. */
HAK_EXPORT int hak_stats_classes(hak_class_stats_t *out, int max);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_H */
