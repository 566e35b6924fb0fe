"""The workloads of the benchmark matrix: a binary under build/bench/ and its
parameter sets (docs/BENCHMARKS.md describes each)."""

from .util import die


class Workload:
    """One row of the matrix: a binary and its parameter sets.

    args: the default (matrix) parameters; quick: the CI smoke / --quick ones;
    cg: the --callgrind ones (valgrind runs ~50x slower); zero: no operations at
    all (the start-up baseline of --syscalls). A "-" argument means
    "the workload's default" (threads default to the core count).
    proof: "small" — hakmem must report blocks_carved > 0; "any" — blocks_carved
    or large_allocs > 0 (workloads made of large blocks only).
    est: rough seconds per default run with glibc on the 2-core machine (ETA).
    extra: result keys summarised (median) in an extra table.
    """

    def __init__(self, name, binary, args, quick, cg, zero, proof="small", est=1.0, extra=(), threads=None, desc=""):
        self.name, self.binary, self.args, self.quick, self.cg, self.zero = name, binary, args, quick, cg, zero
        self.proof, self.est, self.extra, self.threads, self.desc = proof, est, extra, threads, desc


def _thr_at(i):
    def put(args, n):
        args = list(args)
        while len(args) <= i:
            args.append("-")
        args[i] = str(n)
        return args
    return put


def _thr_prodcons(args, n):
    args = list(args)
    while len(args) < 3:
        args.append("-")
    p = max(1, n // 2)
    args[1], args[2] = str(p), str(max(1, n - p))
    return args


WORKLOADS = [
    Workload("random_mixed", "random_mixed", ["20000000", "400", "1"], ["200000", "400", "1"],
             ["300000", "400", "1"], ["0", "400", "1"], est=0.3,
             desc="random malloc/free of 16..1024 B over 400 slots"),
    Workload("tiny_hot", "tiny_hot", ["200000000"], ["1000000"], ["2000000"], ["0"], est=0.8,
             desc="LIFO bursts of 16..128 B: the fast path"),
    Workload("mid_mixed.mid", "mid_mixed", ["mid", "10000000", "200", "1"], ["mid", "100000", "200", "1"],
             ["mid", "200000", "200", "1"], ["mid", "0"], est=0.6, desc="random_mixed over 1..32 KiB, pages touched"),
    Workload("mid_mixed.big", "mid_mixed", ["big", "500000", "200", "1"], ["big", "5000", "50", "1"],
             ["big", "20000", "200", "1"], ["big", "0"], proof="any", est=1.0,
             desc="random_mixed over 32 KiB..1 MiB, pages touched"),
    Workload("large_realloc", "large_realloc", ["2000"], ["100", "4", "1", "64k", "4m"],
             ["300", "4", "1", "64k", "8m"], ["0"], proof="any", est=1.7, extra=("moves",),
             desc="64 KiB..64 MiB buffers grown by realloc (x2, x1.5)"),
    Workload("larson", "larson", ["-", "30", "10000", "1000000"], ["-", "2", "1000", "20000"],
             ["-", "2", "1000", "50000"], ["-", "0"], est=0.8, threads=_thr_at(0),
             desc="server simulation, block sets handed to a new thread every round"),
    Workload("prodcons", "prodcons", ["5000000"], ["100000"], ["200000"], ["0"], est=0.8, threads=_thr_prodcons,
             desc="producers allocate, consumers free (ops = frees)"),
    Workload("xfree", "xfree", ["-", "4000000"], ["-", "100000"], ["-", "100000"], ["-", "0"], est=1.0,
             threads=_thr_at(0), desc="threads allocate batches of 16..256 B and hand each to another thread to free"),
    Workload("false_share", "false_share", ["-", "3000000"], ["-", "20000"], ["-", "50000"], ["-", "0"], est=0.3,
             threads=_thr_at(0), desc="threads malloc small objects and write them repeatedly"),
    Workload("phase", "phase", ["1g", "1"], ["8m", "0"], ["32m", "0"], ["0", "0"], est=2.5,
             extra=("rss_alloc_kb", "rss_freed_kb", "rss_idle_kb", "rss_tick_kb", "rss_realloc_kb", "rss_end_kb"),
             desc="1 GiB mixed, free 90%, idle 1 s, allocate again: RSS per phase"),
    Workload("dbcache", "dbcache", ["256m", "2000000", "1"], ["8m", "20000", "1"], ["16m", "50000", "1"],
             ["4k", "0", "1"], est=2.0, extra=("live_kb",),
             desc="database page cache: 4 KiB + header pages and row objects, churned: peak RSS"),
    Workload("bigbuf", "bigbuf", ["400", "20", "1"], ["10", "4", "1", "1m", "4m"], ["40", "4", "1", "1m", "4m"],
             ["0", "1", "1", "1m", "1m"], proof="any", est=2.0,
             desc="~20 buffers of 5-25 MiB replaced one at a time, zero-filled by the program"),
]
WL_BY_NAME = {w.name: w for w in WORKLOADS}


def select_workloads(names):
    """Names, or a binary name that expands to all its rows (mid_mixed)."""
    if not names:
        return list(WORKLOADS)
    out = []
    for n in names:
        n = n.strip()
        if not n:
            continue
        hits = [w for w in WORKLOADS if w.name == n] or [w for w in WORKLOADS if w.binary == n]
        if not hits:
            die("unknown workload '%s' (known: %s)" % (n, ", ".join(w.name for w in WORKLOADS)))
        out += [h for h in hits if h not in out]
    return out


# --------------------------------------------------------------------------- soak workloads


class SoakWorkload:
    """A mode of build/bench/soak_workload (bench/soak_workload.c describes both).

    args(o): its parameters from bench/soak's options; periodic: the live set follows
    a cycle of o.period seconds; lows(o, t_end): the times of the live set's low points."""

    def __init__(self, name, desc, periodic):
        self.name, self.desc, self.periodic = name, desc, periodic

    def args(self, o):
        if self.name == "random_mixed":
            return ["random_mixed", str(o.ws), str(o.seed), str(o.min), str(o.max)]
        return ["varying", str(o.peak), str(o.low), "%g" % o.period, str(o.seed), o.shape]

    def lows(self, o, t_end):
        """Both shapes start at the low and return to it every period."""
        if not self.periodic:
            return []
        out, t = [], o.period
        while t <= t_end + 0.25 * o.epoch:
            out.append(t)
            t += o.period
        return out

    def describe(self, o):
        if self.name == "random_mixed":
            return "random_mixed: %d slots, sizes %d..%d B, seed %d" % (o.ws, o.min, o.max, o.seed)
        return ("varying: live set %s between %d%% and 100%% of %s, period %g s, sizes by bytes 1/3 16..1024 B, "
                "1/3 1..64 KiB, 1/3 64 KiB..1 MiB, random frees, seed %d"
                % (o.shape, o.low, o.peak, o.period, o.seed))


SOAK_WORKLOADS = {
    "varying": SoakWorkload("varying", "a live set rising and falling between LOW% and 100% of PEAK", True),
    "random_mixed": SoakWorkload("random_mixed", "random_mixed's shape, steady: WS slots of 16..1024 B", False),
}
