#!/usr/bin/env python3
"""seeds.py — writes the hand-made seed inputs of tests/fuzz/corpus/.

Each seed is a small program in the input format of fuzz_alloc.c (see the
comment at its top), aimed at one part of the allocator, so the fuzzer starts
from inputs that already reach it. Run it after changing the input format:

    python3 tests/fuzz/seeds.py tests/fuzz/corpus
"""
import os
import sys

# opcode nibbles (fuzz_alloc.c: op_of_code)
ALLOC, FREE, REALLOC, CHECK, BURST, UNBURST, COLLECT, EXIT, PHASE, VERIFY, BAD = 0, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14
# allocation kinds (fuzz_alloc.c: K_*)
MALLOC, CALLOC, REALLOC_NULL, REALLOCARRAY_NULL, ALIGNED_ALLOC, POSIX_MEMALIGN, MEMALIGN, VALLOC, PVALLOC = range(9)
KiB, MiB = 1024, 1024 * 1024


def size_sel(n):
    """(sizesel, 24-bit value) that pick_size() turns into exactly n bytes."""
    if n <= 128:
        return 0, n
    if n <= 1024:
        return 5, n - 129
    if n <= 8192:
        return 8, n - 1025
    if n <= 64 * KiB:
        return 10, n - 8193
    if n <= 512 * KiB:
        return 13, n - (64 * KiB + 1)
    assert n <= 8 * MiB
    return 15, n - (512 * KiB + 1)


def align_sel(a):
    """the align byte that pick_align() turns into alignment a (a power of two)."""
    return a.bit_length() - 1


class Prog:
    def __init__(self, threads):
        self.b = bytearray([threads - 1])

    def op(self, code, thread=0, libc=False, flag=False, args=b""):
        self.b.append(code | (thread << 4) | (int(libc) << 6) | (int(flag) << 7))
        self.b += bytes(args)
        return self

    def alloc(self, slot, size, kind=MALLOC, align=16, t=0, libc=False):
        sel, v = size_sel(size)
        extra = align_sel(align) if kind in (ALIGNED_ALLOC, POSIX_MEMALIGN, MEMALIGN) else 0
        return self.op(ALLOC, t, libc, args=[slot, kind, sel, v & 255, (v >> 8) & 255, v >> 16, extra])

    def free(self, slot, variant=0, t=0, libc=False):
        return self.op(FREE, t, libc, args=[slot, variant])

    def realloc(self, slot, size, variant=0, t=0, libc=False):
        sel, v = size_sel(size)
        return self.op(REALLOC, t, libc, args=[slot, variant, sel, v & 255, (v >> 8) & 255, v >> 16])

    def check(self, slot, t=0, libc=False):
        return self.op(CHECK, t, libc, args=[slot])

    def burst(self, group, count, size, t=0, calloc=False, libc=False):
        sel, v = size_sel(size)
        return self.op(BURST, t, libc, args=[group, count - 1, sel, v & 255, (v >> 8) & 255, v >> 16, 3 if calloc else 0])

    def unburst(self, group, order=0, variant=0, t=0, libc=False):
        return self.op(UNBURST, t, libc, args=[group, order, variant])

    def collect(self, t=0, trim=False):
        return self.op(COLLECT, t, libc=trim, args=[0])

    def exit(self, t):
        return self.op(EXIT, t)

    def phase(self, seed, steps, exits=0):
        return self.op(PHASE, 0, args=list(seed.to_bytes(4, "little")) + [steps - 1, exits])

    def verify(self):
        return self.op(VERIFY)

    def bad(self, variant, slot=0, libc=False):
        return self.op(BAD, 0, libc, args=[variant, slot])


def seeds():
    out = {}

    # every allocation kind and free variant, both API names, one thread
    p = Prog(1)
    sizes = [0, 1, 15, 16, 17, 128, 129, 1000, 1024, 1025, 8192, 8193, 40000, 65536, 65537, 300000, 524288, 524289, 3 * MiB]
    for i, n in enumerate(sizes):
        p.alloc(i, n, kind=i % 9, align=1 << (4 + i % 9), libc=bool(i & 1))
    for i in range(len(sizes)):
        p.check(i, libc=bool(i & 2))
    for i in range(len(sizes)):
        p.free(i, variant=i, libc=bool(i & 1))
    out["kinds"] = p

    # realloc up and down through every size range, in place and moving
    p = Prog(1)
    p.alloc(0, 24)
    for n in [100, 1000, 9000, 70000, 600000, 5 * MiB, 7 * MiB, 1 * MiB, 200000, 3000, 40, 8]:
        p.realloc(0, n, variant=n & 3, libc=bool(n & 1))
    p.alloc(1, 2 * MiB, kind=ALIGNED_ALLOC, align=MiB)
    p.realloc(1, 6 * MiB)
    p.realloc(1, 4000)
    p.free(0).free(1)
    out["realloc"] = p

    # alignments from 1 B to 8 MiB, including the far (>= 4 MiB) kind
    p = Prog(1)
    for i, a in enumerate([1, 8, 32, 64, 256, 4096, 65536, 1 << 20, 2 << 20, 4 << 20, 8 << 20]):
        p.alloc(i, 100 + 997 * i, kind=(ALIGNED_ALLOC, POSIX_MEMALIGN, MEMALIGN)[i % 3], align=a, libc=bool(i & 1))
    p.verify()
    for i in range(11):
        p.free(i, variant=3)
    p.alloc(20, 5000, kind=VALLOC, libc=True).alloc(21, 5000, kind=PVALLOC, libc=True).alloc(22, 0, kind=PVALLOC, libc=True)
    out["align"] = p

    # cross-thread frees: thread 1 allocates, thread 0 frees, and back
    p = Prog(2)
    for i in range(32):
        p.alloc(i, 16 + 40 * i, t=1)
    for i in range(32):
        p.free(i, variant=i, t=0)
    for i in range(32):
        p.alloc(i, 300 + i, t=0)
    for i in range(0, 32, 2):
        p.realloc(i, 5000, t=1)
    for i in range(32):
        p.free(i, t=1)
    out["cross"] = p

    # a full page freed by another thread (NOTIFY / xpages), then reused
    p = Prog(2)
    p.burst(0, 256, 256, t=1).burst(1, 256, 256, t=1).burst(2, 64, 1024, t=1)
    p.unburst(0, order=0, t=0).unburst(2, order=2, t=0)
    p.burst(3, 256, 256, t=1)
    p.unburst(1, order=1, t=0).collect(1)
    p.burst(0, 256, 256, t=1).unburst(3, order=4, t=0).verify()
    out["fullpage"] = p

    # thread exit with live blocks; survivors free them and adopt the segments
    p = Prog(3)
    for i in range(16):
        p.alloc(i, 64 << (i % 8), t=1)
    p.burst(4, 200, 512, t=1).alloc(40, 2 * MiB, t=1)
    p.exit(1)
    for i in range(0, 16, 2):
        p.free(i, t=2)
    p.unburst(4, order=3, t=0).alloc(50, 512, t=2)
    p.alloc(41, 700, t=1)  # a new thread 1
    for i in range(1, 16, 2):
        p.free(i, t=1)
    p.free(40, t=2).exit(2).collect(0, trim=True)
    out["exit"] = p

    # concurrent phases on 4 threads, some threads exiting as they finish
    p = Prog(4)
    for i in range(64):
        p.alloc(i, 32 + 61 * i, t=i % 4)
    p.phase(12345, 32).phase(777, 32, exits=0b0110).phase(4242, 20, exits=0b1000).verify()
    p.phase(99, 32).collect(0)
    out["phase"] = p

    # requests that must fail, next to live blocks
    p = Prog(1)
    p.alloc(0, 100).alloc(1, 3 * MiB)
    for v in range(8):
        p.bad(v, slot=v % 2, libc=bool(v & 1))
    p.check(0).check(1)
    out["bad"] = p

    # calloc of reused dirty memory, small to huge
    p = Prog(2)
    for i, n in enumerate([16, 200, 3000, 30000, 200000, 2 * MiB]):
        p.alloc(i, n, t=1).free(i, t=1).alloc(i, n, kind=CALLOC, t=1, libc=bool(i & 1))
    p.burst(5, 100, 64, t=0).unburst(5).burst(5, 100, 64, t=0, calloc=True).unburst(5, t=1)
    out["calloc"] = p
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    os.makedirs(outdir, exist_ok=True)
    for name, prog in seeds().items():
        with open(os.path.join(outdir, "seed-" + name), "wb") as f:
            f.write(prog.b)


if __name__ == "__main__":
    main()
