/* unwind.h — a fast stack walk for the heap profiler (unwind.c;
 * docs/PROFILING.md, "Stacks").
 *
 * x86-64 only: the walk reads the .eh_frame call-frame information itself and
 * keeps, per return address, the one rule it needs (CFA = rsp or rbp + N,
 * return address at CFA-8, rbp unchanged or saved at CFA+k) in a lock-free
 * table mapped from the OS. A frame whose rule is anything else (an
 * expression, a signal frame, code without an FDE) ends the walk with
 * HAK_UNWIND_UNKNOWN: the caller then takes the stack some other way
 * (backtrace()). Nothing here allocates, locks or calls malloc; it may run in
 * several threads at once and in a signal handler. */
#ifndef HAK_UNWIND_H
#define HAK_UNWIND_H

#include "internal.h"

/* How a walk ended. */
typedef enum hak_unwind_status_e {
  HAK_UNWIND_END,     /* the outermost frame (return address undefined, or 0) */
  HAK_UNWIND_FULL,    /* `max` frames taken */
  HAK_UNWIND_UNKNOWN, /* a frame the walk cannot step through (see above) */
  HAK_UNWIND_BAD,     /* a frame broke a bound (CFA not above the last one, or
                         more than 16 MiB above the start): the CFI is wrong */
} hak_unwind_status_t;

/* Map the rule cache now (the first walk does it otherwise; without it every
 * frame is decoded each time). Returns false if the OS refused the memory. */
bool hak_unwind_init(void) hak_internal;

/* Write up to `max` return addresses, innermost first, into pcs: pcs[0] is
 * the return address into hak_unwind's caller, then its caller's, and so on
 * — the frames glibc's backtrace() would give from the same place (call it
 * as backtrace() is called: not as a tail call). Returns the number written;
 * *status says why the walk stopped. */
int hak_unwind(uintptr_t *pcs, int max, hak_unwind_status_t *status) hak_internal hak_noinline;

/* Rules in the cache (tests). */
uint32_t hak_unwind_cached(void) hak_internal;

#endif /* HAK_UNWIND_H */
