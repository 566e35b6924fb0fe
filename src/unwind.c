/* unwind.c — the heap profiler's stack walk: x86-64, from .eh_frame, with a
 * cache of one rule per return address (unwind.h; docs/PROFILING.md).
 *
 * Why not backtrace(): libgcc's unwinder decodes the CIE and FDE of every
 * frame again on every call (~1,000 instructions a frame, ~10,000 a sample).
 * The rules of real code are almost all of one shape — the caller's stack
 * pointer (the CFA) is rsp or rbp plus a constant, the return address sits
 * just below it, rbp is either untouched or saved at a constant offset from
 * it — so this file decodes each return address once, keeps that shape, and
 * steps a frame with two or three loads afterwards. Everything else (CFA or
 * register expressions, signal frames, code without an FDE) is "unknown",
 * cached too, and the caller falls back to backtrace() for that stack.
 *
 * Finding the FDE: _dl_find_object (glibc >= 2.35: no lock, no allocation)
 * gives the object's .eh_frame_hdr, whose sorted table is binary-searched.
 *
 * The cache: a fixed open-addressing table mapped once from the OS; a slot is
 * a key word (the looked-up address) and a rule word. A writer claims an
 * empty slot by CAS to key|PENDING, writes the rule, then publishes the key
 * with a release store; a reader trusts the rule only after an acquire load
 * of exactly the key. A slot is never rewritten, so no reader sees a torn
 * entry, and a thread stopped between claim and publish (fork, a signal
 * handler interrupting it) only leaves that address uncached. When the
 * probe window is full the rule is computed and not kept. */
#include <dlfcn.h>

#include "unwind.h"

#define UNW_SLOTS ((uint32_t)1 << 15) /* 512 KiB of cache, resident as it fills */
#define UNW_PROBES 32
#define UNW_PENDING ((uint64_t)1 << 63)
#define UNW_WINDOW ((uintptr_t)16 << 20) /* the walk stays within 16 MiB above its start */
#define UNW_STATES 8                     /* remember_state depth */

/* DWARF register numbers (x86-64 psABI) */
#define DW_RBP 6
#define DW_RSP 7
#define DW_RA 16

/* ---- rules ------------------------------------------------------------------ */
enum { RULE_UNKNOWN = 0, RULE_STEP = 1, RULE_END = 2 };
#define RULE_CFA_RBP 1   /* CFA = rbp + cfa_off (else rsp + cfa_off) */
#define RULE_RBP_SAVED 2 /* the caller's rbp is at CFA + rbp_off (else unchanged) */

typedef struct unw_rule_s {
  int32_t cfa_off;
  int16_t rbp_off;
  uint8_t flags;
  uint8_t kind;
} unw_rule_t;

typedef struct unw_slot_s {
  _Atomic(uint64_t) key; /* 0 empty; pc | UNW_PENDING while being filled */
  unw_rule_t rule;       /* valid once key == pc */
} unw_slot_t;

static _Atomic(unw_slot_t *) cache; /* mapped by the first walk */
static _Atomic(bool) cache_failed;   /* the OS refused: walk without it */
static _Atomic(uint32_t) cached;

static uint32_t slot_of(uintptr_t pc) { return (uint32_t)(((uint64_t)pc * 0x9E3779B97F4A7C15ULL) >> 49); /* 15 bits */ }

/* ---- reading DWARF ---------------------------------------------------------- */
typedef struct rd_s {
  const uint8_t *p, *end;
  bool bad;
} rd_t;

static bool rd_need(rd_t *r, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = true;
    return false;
  }
  return true;
}
static uint64_t rd_fixed(rd_t *r, size_t n) { /* little-endian, n <= 8 */
  if (!rd_need(r, n)) return 0;
  uint64_t v = 0;
  memcpy(&v, r->p, n);
  r->p += n;
  return v;
}
static uint8_t rd_u8(rd_t *r) { return (uint8_t)rd_fixed(r, 1); }
static uint64_t rd_uleb(rd_t *r) {
  uint64_t v = 0;
  for (unsigned shift = 0; rd_need(r, 1); shift += 7) {
    uint8_t b = *r->p++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  return 0;
}
static int64_t rd_sleb(rd_t *r) {
  uint64_t v = 0;
  for (unsigned shift = 0; rd_need(r, 1);) {
    uint8_t b = *r->p++;
    if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) {
      if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
      return (int64_t)v;
    }
  }
  return 0;
}

/* A pointer in DW_EH_PE encoding `enc`: its format (low nibble) and what it
 * is relative to (pcrel: its own address; datarel: `data`, the start of
 * .eh_frame_hdr). The indirect bit is left to the caller. Other bases
 * (textrel, funcrel, aligned) are not used on x86-64 Linux: bad. */
static uint64_t rd_encoded(rd_t *r, uint8_t enc, uintptr_t data) {
  const uint8_t *at = r->p;
  uint64_t v;
  switch (enc & 0x0f) {
  case 0x00: /* absptr */
  case 0x04: /* udata8 */
  case 0x0c: v = rd_fixed(r, 8); break;
  case 0x01: v = rd_uleb(r); break;
  case 0x02: v = rd_fixed(r, 2); break;
  case 0x03: v = rd_fixed(r, 4); break;
  case 0x09: v = (uint64_t)rd_sleb(r); break;
  case 0x0a: v = (uint64_t)(int64_t)(int16_t)rd_fixed(r, 2); break;
  case 0x0b: v = (uint64_t)(int64_t)(int32_t)rd_fixed(r, 4); break;
  default: r->bad = true; return 0;
  }
  switch (enc & 0x70) {
  case 0x00: break;
  case 0x10: v += (uintptr_t)at; break;
  case 0x30:
    if (data == 0) r->bad = true;
    v += data;
    break;
  default: r->bad = true;
  }
  return v;
}

/* the byte size of a fixed-size encoding, 0 for the others */
static size_t enc_size(uint8_t enc) {
  switch (enc & 0x0f) {
  case 0x02: case 0x0a: return 2;
  case 0x03: case 0x0b: return 4;
  case 0x00: case 0x04: case 0x0c: return 8;
  default: return 0;
  }
}

/* ---- finding the FDE -------------------------------------------------------- */
/* The FDE whose table entry is the last one starting at or below pc, from
 * .eh_frame_hdr (version 1, a sorted table of (start, FDE) pairs). */
static const uint8_t *hdr_find_fde(const uint8_t *hdr, uintptr_t pc) {
  if (hdr[0] != 1) return NULL;
  uint8_t ptr_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
  if (ptr_enc == 0xff || count_enc == 0xff || table_enc == 0xff || (table_enc & 0x80)) return NULL;
  rd_t r = {hdr + 4, hdr + 4 + 32, false};
  rd_encoded(&r, ptr_enc, (uintptr_t)hdr); /* .eh_frame itself: not needed */
  uint64_t count = rd_encoded(&r, count_enc, (uintptr_t)hdr);
  size_t es = enc_size(table_enc);
  if (r.bad || count == 0 || es == 0 || count > ((uint64_t)1 << 40)) return NULL;
  const uint8_t *table = r.p;
  uint64_t lo = 0, hi = count; /* the answer is in [lo, hi) */
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    rd_t e = {table + mid * 2 * es, table + mid * 2 * es + es, false};
    uintptr_t start = rd_encoded(&e, table_enc, (uintptr_t)hdr);
    if (e.bad) return NULL;
    if (start <= pc) lo = mid;
    else hi = mid;
  }
  rd_t e = {table + lo * 2 * es, table + lo * 2 * es + 2 * es, false};
  uintptr_t start = rd_encoded(&e, table_enc, (uintptr_t)hdr);
  uintptr_t fde = rd_encoded(&e, table_enc, (uintptr_t)hdr);
  if (e.bad || start > pc) return NULL;
  return (const uint8_t *)fde;
}

/* A CIE or FDE: its length word (or the 64-bit escape) bounds r. Returns the
 * address just after the length, or NULL. */
static const uint8_t *entry_open(const uint8_t *at, rd_t *r, bool *wide) {
  r->p = at;
  r->end = at + 12;
  r->bad = false;
  uint64_t len = rd_fixed(r, 4);
  *wide = len == 0xffffffff;
  if (*wide) len = rd_fixed(r, 8);
  if (r->bad || len == 0 || len > ((uint64_t)1 << 30)) return NULL;
  const uint8_t *body = r->p;
  r->end = body + len;
  return body;
}

typedef struct cie_s {
  uint64_t code_align;
  int64_t data_align;
  uint8_t fde_enc;
  bool has_z, signal;
  const uint8_t *insns, *end;
} cie_t;

static bool cie_parse(const uint8_t *at, cie_t *c) {
  rd_t r;
  bool wide;
  if (entry_open(at, &r, &wide) == NULL) return false;
  if (rd_fixed(&r, wide ? 8 : 4) != 0) return false; /* not a CIE */
  uint8_t version = rd_u8(&r);
  if (version != 1 && version != 3) return false;
  const char *aug = (const char *)r.p;
  while (rd_need(&r, 1) && *r.p != 0) r.p++;
  if (r.bad) return false;
  r.p++;
  c->code_align = rd_uleb(&r);
  c->data_align = rd_sleb(&r);
  uint64_t ra = version == 1 ? rd_u8(&r) : rd_uleb(&r);
  if (r.bad || ra != DW_RA) return false;
  c->fde_enc = 0; /* absptr */
  c->has_z = aug[0] == 'z';
  c->signal = false;
  if (c->has_z) {
    uint64_t n = rd_uleb(&r);
    if (!rd_need(&r, n)) return false;
    const uint8_t *aug_end = r.p + n;
    for (const char *a = aug + 1; *a; a++) {
      if (*a == 'L') rd_u8(&r);                     /* LSDA encoding */
      else if (*a == 'P') {                          /* personality: skipped */
        uint8_t enc = rd_u8(&r);
        rd_encoded(&r, (uint8_t)(enc & 0x7f), 0x1); /* any datarel base: we only skip it */
      } else if (*a == 'R') c->fde_enc = rd_u8(&r);
      else if (*a == 'S') c->signal = true;
      else return false;
    }
    if (r.bad || r.p > aug_end) return false;
    r.p = aug_end;
  } else if (aug[0] != 0) {
    return false;
  }
  if (r.bad) return false;
  c->insns = r.p;
  c->end = r.end;
  return true;
}

/* ---- running the CFA program ------------------------------------------------- */
enum { REG_SAME = 0, REG_UNDEF, REG_OFFSET, REG_OTHER, REG_UNSET };
typedef struct reg_rule_s {
  uint8_t how;
  int64_t off; /* REG_OFFSET: saved at CFA + off */
} reg_rule_t;

typedef struct frame_state_s {
  uint64_t cfa_reg;
  int64_t cfa_off; /* (a CFA expression ends the decoding: unknown) */
  reg_rule_t rbp, rsp, ra;
} frame_state_t;

static reg_rule_t *reg_of(frame_state_t *s, uint64_t reg) {
  return reg == DW_RBP ? &s->rbp : reg == DW_RSP ? &s->rsp : reg == DW_RA ? &s->ra : NULL;
}
static void reg_set(frame_state_t *s, uint64_t reg, uint8_t how, int64_t off) {
  reg_rule_t *rr = reg_of(s, reg);
  if (rr != NULL) *rr = (reg_rule_t){how, off};
}

typedef struct run_s {
  const cie_t *cie;
  const frame_state_t *initial; /* after the CIE's instructions (restore) */
  frame_state_t stack[UNW_STATES];
  int depth;
} run_t;

/* an offset times the data alignment factor, wrapping (bad CFI is not UB) */
static int64_t dscale(uint64_t v, const cie_t *c) { return (int64_t)(v * (uint64_t)c->data_align); }

/* Execute [p, end) while the location stays <= target. false: an
 * instruction this walk does not handle. */
static bool cfa_run(run_t *x, frame_state_t *s, const uint8_t *p, const uint8_t *end, uintptr_t loc, uintptr_t target) {
  rd_t r = {p, end, false};
  const cie_t *c = x->cie;
  while (r.p < r.end && !r.bad) {
    uint8_t op = rd_u8(&r);
    uint64_t reg, delta;
    switch (op & 0xc0) {
    case 0x40: /* advance_loc */
      loc += (op & 0x3f) * c->code_align;
      if (loc > target) return true;
      continue;
    case 0x80: /* offset */
      reg_set(s, op & 0x3f, REG_OFFSET, dscale(rd_uleb(&r), c));
      continue;
    case 0xc0: /* restore */
      reg = op & 0x3f;
      if (reg_of(s, reg)) *reg_of(s, reg) = *reg_of((frame_state_t *)x->initial, reg);
      continue;
    }
    switch (op) {
    case 0x00: break; /* nop */
    case 0x01:        /* set_loc */
      loc = rd_encoded(&r, c->fde_enc, 0);
      if (loc > target) return !r.bad;
      break;
    case 0x02: case 0x03: case 0x04: /* advance_loc1/2/4 */
      delta = rd_fixed(&r, op == 0x02 ? 1 : op == 0x03 ? 2 : 4);
      loc += delta * c->code_align;
      if (loc > target) return !r.bad;
      break;
    case 0x05: /* offset_extended */
      reg = rd_uleb(&r);
      reg_set(s, reg, REG_OFFSET, dscale(rd_uleb(&r), c));
      break;
    case 0x06: /* restore_extended */
      reg = rd_uleb(&r);
      if (reg_of(s, reg)) *reg_of(s, reg) = *reg_of((frame_state_t *)x->initial, reg);
      break;
    case 0x07: reg_set(s, rd_uleb(&r), REG_UNDEF, 0); break;
    case 0x08: reg_set(s, rd_uleb(&r), REG_SAME, 0); break;
    case 0x09: /* register */
      reg = rd_uleb(&r);
      rd_uleb(&r);
      reg_set(s, reg, REG_OTHER, 0);
      break;
    case 0x0a: /* remember_state: the CFA rule too, as GCC expects */
      if (x->depth == UNW_STATES) return false;
      x->stack[x->depth++] = *s;
      break;
    case 0x0b:
      if (x->depth == 0) return false;
      *s = x->stack[--x->depth];
      break;
    case 0x0c: /* def_cfa */
      s->cfa_reg = rd_uleb(&r);
      s->cfa_off = (int64_t)rd_uleb(&r);
      break;
    case 0x0d: s->cfa_reg = rd_uleb(&r); break;
    case 0x0e: s->cfa_off = (int64_t)rd_uleb(&r); break;
    case 0x0f: /* def_cfa_expression */
      return false;
    case 0x10: case 0x16: /* expression, val_expression */
      reg = rd_uleb(&r);
      delta = rd_uleb(&r);
      if (rd_need(&r, delta)) r.p += delta;
      reg_set(s, reg, REG_OTHER, 0);
      break;
    case 0x11: /* offset_extended_sf */
      reg = rd_uleb(&r);
      reg_set(s, reg, REG_OFFSET, dscale((uint64_t)rd_sleb(&r), c));
      break;
    case 0x12: /* def_cfa_sf */
      s->cfa_reg = rd_uleb(&r);
      s->cfa_off = dscale((uint64_t)rd_sleb(&r), c);
      break;
    case 0x13: s->cfa_off = dscale((uint64_t)rd_sleb(&r), c); break;
    case 0x14: /* val_offset */
      reg = rd_uleb(&r);
      rd_uleb(&r);
      reg_set(s, reg, REG_OTHER, 0);
      break;
    case 0x15: /* val_offset_sf */
      reg = rd_uleb(&r);
      rd_sleb(&r);
      reg_set(s, reg, REG_OTHER, 0);
      break;
    case 0x2e: rd_uleb(&r); break; /* GNU_args_size */
    case 0x2f:                     /* GNU_negative_offset_extended */
      reg = rd_uleb(&r);
      reg_set(s, reg, REG_OFFSET, dscale(0 - rd_uleb(&r), c));
      break;
    default: return false;
    }
  }
  return !r.bad;
}

/* The rule for the code at pc (for a return address: the address before it). */
static unw_rule_t rule_decode(uintptr_t pc) {
  unw_rule_t unknown = {0, 0, 0, RULE_UNKNOWN};
  struct dl_find_object dlfo;
  if (_dl_find_object((void *)pc, &dlfo) != 0 || dlfo.dlfo_eh_frame == NULL) return unknown;
  const uint8_t *fde = hdr_find_fde(dlfo.dlfo_eh_frame, pc);
  if (fde == NULL) return unknown;
  rd_t r;
  bool wide;
  const uint8_t *body = entry_open(fde, &r, &wide);
  if (body == NULL) return unknown;
  uint64_t cie_off = rd_fixed(&r, wide ? 8 : 4);
  if (r.bad || cie_off == 0 || cie_off > (uintptr_t)body) return unknown; /* 0: a CIE */
  cie_t cie;
  if (!cie_parse(body - cie_off, &cie) || cie.signal || (cie.fde_enc & 0x80)) return unknown;
  uintptr_t start = rd_encoded(&r, cie.fde_enc, 0);
  uintptr_t range = rd_encoded(&r, (uint8_t)(cie.fde_enc & 0x0f), 0);
  if (r.bad || pc < start || pc - start >= range) return unknown;
  if (cie.has_z) {
    uint64_t n = rd_uleb(&r);
    if (!rd_need(&r, n)) return unknown;
    r.p += n;
  }
  frame_state_t s = {0}, initial;
  s.cfa_reg = DW_RSP;
  s.rbp.how = REG_SAME;
  s.rsp.how = REG_UNSET;
  s.ra.how = REG_UNSET;
  run_t x = {.cie = &cie, .initial = &s, .depth = 0};
  if (!cfa_run(&x, &s, cie.insns, cie.end, 0, UINTPTR_MAX)) return unknown;
  initial = s;
  x.initial = &initial;
  x.depth = 0;
  if (!cfa_run(&x, &s, r.p, r.end, start, pc)) return unknown;
  /* _start and the thread entry mark the return address undefined: the end */
  if (s.ra.how == REG_UNDEF) return (unw_rule_t){0, 0, 0, RULE_END};
  if (s.ra.how != REG_OFFSET || s.ra.off != -8 || s.rsp.how != REG_UNSET) return unknown;
  if ((s.cfa_reg != DW_RSP && s.cfa_reg != DW_RBP) || s.cfa_off < 8 || s.cfa_off > INT32_MAX) return unknown;
  unw_rule_t rule = {(int32_t)s.cfa_off, 0, s.cfa_reg == DW_RBP ? RULE_CFA_RBP : 0, RULE_STEP};
  if (s.rbp.how == REG_OFFSET) {
    if (s.rbp.off < INT16_MIN || s.rbp.off > INT16_MAX) return unknown;
    rule.rbp_off = (int16_t)s.rbp.off;
    rule.flags |= RULE_RBP_SAVED;
  } else if (s.rbp.how != REG_SAME) {
    return unknown;
  }
  return rule;
}

/* ---- the cache ------------------------------------------------------------------ */
#define UNW_CACHE_BYTES (sizeof(unw_slot_t) * UNW_SLOTS)

/* Map the cache once; two threads racing here both map, one unmaps. */
static unw_slot_t *cache_get(void) {
  unw_slot_t *c = atomic_load_explicit(&cache, memory_order_acquire);
  if (hak_likely(c != NULL) || atomic_load_explicit(&cache_failed, memory_order_relaxed)) return c;
  unw_slot_t *fresh = hak_os_alloc_aligned(UNW_CACHE_BYTES, HAK_OS_PAGE_SIZE);
  if (fresh == NULL) {
    atomic_store_explicit(&cache_failed, true, memory_order_relaxed);
    return NULL;
  }
  if (!atomic_compare_exchange_strong_explicit(&cache, &c, fresh, memory_order_acq_rel, memory_order_acquire)) {
    hak_os_free(fresh, UNW_CACHE_BYTES);
    return c;
  }
  return fresh;
}

bool hak_unwind_init(void) { return cache_get() != NULL; }

uint32_t hak_unwind_cached(void) { return atomic_load_explicit(&cached, memory_order_relaxed); }

/* The rule for pc when its home slot does not hold it: the probe window,
 * else decode it (and keep it in the first empty slot). */
static hak_noinline unw_rule_t rule_miss(unw_slot_t *c, uintptr_t pc) {
  if (c == NULL) return rule_decode(pc);
  uint32_t i = slot_of(pc);
  for (int probe = 0; probe < UNW_PROBES; probe++, i = (i + 1) & (UNW_SLOTS - 1)) {
    uint64_t k = atomic_load_explicit(&c[i].key, memory_order_acquire);
    if (k == pc) return c[i].rule;
    if (k == (pc | UNW_PENDING)) break; /* being filled: compute it meanwhile */
    if (k != 0) continue;
    unw_rule_t r = rule_decode(pc);
    if (atomic_compare_exchange_strong_explicit(&c[i].key, &k, pc | UNW_PENDING, memory_order_relaxed,
                                                memory_order_relaxed)) {
      c[i].rule = r;
      atomic_store_explicit(&c[i].key, pc, memory_order_release);
      atomic_fetch_add_explicit(&cached, 1, memory_order_relaxed);
    }
    return r; /* lost the slot to another address: not cached this time */
  }
  return rule_decode(pc);
}

/* ---- the walk --------------------------------------------------------------------- */
/* The top of this thread's stack, where it can be told, so that no read goes
 * past it even on a wrong rule (a library unloaded and another mapped at its
 * addresses, docs/PROFILING.md): glibc puts a thread's descriptor
 * (pthread_self) just above the thread's stack, its own or the program's, and
 * the main thread's frames lie below __libc_stack_end. On any other stack (a
 * coroutine's) only the 16 MiB window bounds the walk. */
extern void *__libc_stack_end;
static uintptr_t stack_top(uintptr_t sp) {
  uintptr_t self = (uintptr_t)pthread_self(), end = (uintptr_t)__libc_stack_end;
  if (sp < self && self - sp < UNW_WINDOW) return self;
  if (sp < end && end - sp < UNW_WINDOW) return end;
  return sp + UNW_WINDOW;
}

int hak_unwind(uintptr_t *pcs, int max, hak_unwind_status_t *status) {
  uintptr_t rip, rsp, rbp;
  /* one statement, so that rip and rsp describe the same instruction; rbp
   * first, in case the compiler gave another output the register rbp */
  __asm__ volatile("movq %%rbp, %2\n\t"
                   "leaq 0(%%rip), %0\n\t"
                   "movq %%rsp, %1"
                   : "=&r"(rip), "=&r"(rsp), "=&r"(rbp));
  unw_slot_t *c = cache_get();
  uintptr_t limit = stack_top(rsp), at = rip; /* at: where the rule is looked up */
  int n = 0;
  hak_unwind_status_t st = HAK_UNWIND_FULL;
  while (n < max) {
    unw_rule_t r;
    if (hak_likely(c != NULL && atomic_load_explicit(&c[slot_of(at)].key, memory_order_acquire) == at)) r = c[slot_of(at)].rule;
    else r = rule_miss(c, at);
    if (hak_unlikely(r.kind != RULE_STEP)) {
      st = r.kind == RULE_END ? HAK_UNWIND_END : HAK_UNWIND_UNKNOWN;
      break;
    }
    uintptr_t cfa = ((r.flags & RULE_CFA_RBP) ? rbp : rsp) + (uintptr_t)(intptr_t)r.cfa_off;
    if (hak_unlikely(cfa <= rsp || cfa > limit || (r.flags & RULE_RBP_SAVED && cfa + (intptr_t)r.rbp_off + 8 > limit))) {
      st = HAK_UNWIND_BAD;
      break;
    }
    uintptr_t ra = *(const uintptr_t *)(cfa - 8);
    if (r.flags & RULE_RBP_SAVED) rbp = *(const uintptr_t *)(cfa + (intptr_t)r.rbp_off);
    rsp = cfa;
    if (ra == 0) {
      st = HAK_UNWIND_END;
      break;
    }
    pcs[n++] = ra;
    at = ra - 1; /* a call may be the last instruction of its function */
  }
  *status = st;
  return n;
}
