"""Allocator names, how a process is made to use one, and the proof that it did.

Names: "system" (glibc, no preload), "hakmem" (build/libhakmem.so, or
--hakmem-lib, or $HAKMEM_LIB), "hakmem:PROFILE" (the same with
HAKMEM_PROFILE=PROFILE), the peers "mimalloc", "jemalloc", "tcmalloc" (Debian's
packages), or a path to a .so ("PATH:PROFILE" for a hakmem build with a profile).
A hakmem name or path ending in "+prof" runs with the heap profiler on
(HAKMEM_PROF=1, profile written to /dev/null): what profiling costs;
"jemalloc+prof" is jemalloc with its own sampling profiler on
(MALLOC_CONF=prof:true, its default 512 KiB interval, nothing written), the
reference.

The proof rule (docs/BENCHMARKS.md): a workload reports which allocator served
it (allocator=, malloc_lib=, and for hakmem its counters hak_*=); check_proof
refuses a report that does not prove the allocator that was asked for.
"""

import os

from .util import die, warn

PEER_LIBS = {
    "mimalloc": "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2",
    "jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
}
FAMILIES = {"libhakmem": "hakmem", "libmimalloc": "mimalloc", "libjemalloc": "jemalloc", "libtcmalloc": "tcmalloc"}
PROFILES = ("speed", "balanced", "lean")
DEFAULT_ALLOCATORS = ["hakmem", "system", "mimalloc", "jemalloc", "tcmalloc"]


class Alloc:
    """label: the name shown; preload: absolute path for LD_PRELOAD (None: glibc);
    env: variables it needs (HAKMEM_PROFILE); expect: the family the proof must show."""

    def __init__(self, label, preload, env, expect, note=""):
        self.label, self.preload, self.env, self.expect, self.note = label, preload, env, expect, note

    def describe(self):
        s = self.preload or "(no preload: glibc malloc)"
        if self.env:
            s += " " + " ".join("%s=%s" % kv for kv in sorted(self.env.items()))
        return s


def family_of(path):
    base = os.path.basename(path)
    for needle, fam in FAMILIES.items():
        if needle in base:
            return fam
    return None


def default_hakmem_lib(build, given=None):
    """--hakmem-lib, else $HAKMEM_LIB, else BUILD/libhakmem.so; always absolute."""
    return os.path.abspath(given or os.environ.get("HAKMEM_LIB") or os.path.join(build, "libhakmem.so"))


def parse_alloc(spec, hakmem_lib, label=None):
    """Returns (Alloc, None) or (None, why-missing)."""
    if spec.endswith("+prof") and spec != "+prof":
        a, why = parse_alloc(spec[:-len("+prof")], hakmem_lib, label or spec)
        if a is not None:
            if a.expect == "hakmem":
                a.env = dict(a.env, HAKMEM_PROF="1", HAKMEM_PROF_FILE="/dev/null")
            elif a.expect == "jemalloc":
                a.env = dict(a.env, MALLOC_CONF="prof:true,prof_active:true")
            else:
                die("'+prof' is for hakmem builds and jemalloc, not %s" % spec)
        return a, why
    if spec == "system":
        return Alloc(label or "system", None, {}, "system"), None
    if spec == "hakmem" or spec.startswith("hakmem:"):
        env = {}
        if ":" in spec:
            prof = spec.split(":", 1)[1]
            if prof not in PROFILES:
                die("unknown hakmem profile '%s' (%s)" % (prof, ", ".join(PROFILES)))
            env["HAKMEM_PROFILE"] = prof
        if not os.path.isfile(hakmem_lib):
            return None, "%s not found (run 'make')" % hakmem_lib
        return Alloc(label or spec, hakmem_lib, env, "hakmem"), None
    if spec in PEER_LIBS:
        p = PEER_LIBS[spec]
        if not os.path.isfile(p):
            return None, "%s not installed (bench/install-peers)" % p
        return Alloc(label or spec, p, {}, spec), None
    # A path to a shared object: a peer or (the A/B case) a hakmem build.
    path = spec
    prof = None
    if not os.path.exists(path) and ":" in spec and spec.rsplit(":", 1)[1] in PROFILES:
        path, prof = spec.rsplit(":", 1)
    if not os.path.isfile(path):
        if "/" in spec or spec.endswith(".so") or ".so." in spec:
            return None, "%s not found" % path
        die("unknown allocator '%s' (system, hakmem, hakmem:PROFILE, %s, or a path to a .so)"
            % (spec, ", ".join(PEER_LIBS)))
    path = os.path.abspath(path)  # the loader silently ignores a relative entry it cannot open
    fam = family_of(path) or "hakmem"  # a renamed hakmem build is proven by hak_stats_get
    env = {"HAKMEM_PROFILE": prof} if prof else {}
    return Alloc(label or os.path.basename(spec), path, env, fam), None


def resolve_allocs(specs, hakmem_lib, labels=None):
    """Alloc objects for the names that are available, and (name, why) for the others."""
    allocs, missing = [], []
    for i, s in enumerate(specs):
        a, why = parse_alloc(s, hakmem_lib, labels[i] if labels else None)
        if a:
            if any(x.label == a.label for x in allocs):
                die("allocator '%s' given twice" % a.label)
            allocs.append(a)
        else:
            missing.append((s, why))
    for s, why in missing:
        warn("allocator %s left out: %s" % (s, why))
    return allocs, missing


def child_env(alloc, extra_env):
    """The environment of a workload: the caller's, without any inherited LD_PRELOAD
    or HAKMEM_* variable, plus extra_env and what the allocator needs."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("HAKMEM_")}
    env.update(extra_env)
    env.update(alloc.env)
    if alloc.preload:
        env["LD_PRELOAD"] = alloc.preload
    return env


def check_proof(res, alloc, proof="small"):
    """None if the report res (parsed key=value fields) provably came from alloc, else
    the reason it is INVALID.

    proof: what hakmem's counters must show. "small": blocks_carved > 0; "any":
    blocks_carved or large_allocs > 0 (workloads made of large blocks only);
    "loaded": the counters are present (a report taken before any allocation)."""
    got = res.get("allocator")
    if got != alloc.expect:
        return "asked for %s, served by %s (malloc from %s)" % (alloc.expect, got, res.get("malloc_lib"))
    if alloc.preload:
        names = {os.path.basename(alloc.preload), os.path.basename(os.path.realpath(alloc.preload))}
        if res.get("malloc_lib") not in names:
            return "malloc resolved to %s, not the preloaded %s" % (res.get("malloc_lib"), alloc.preload)
    if alloc.expect == "hakmem":
        if res.get("hak_stats") == "missing" or "hak_blocks_carved" not in res:
            return "hakmem is mapped but hak_stats_get is missing: no counters to prove it served the run"
        carved = res.get("hak_blocks_carved", 0)
        large = res.get("hak_large_allocs", 0)
        if proof == "any":
            if carved == 0 and large == 0:
                return "hakmem blocks_carved=0 and large_allocs=0: hakmem allocated nothing"
        elif proof == "small" and carved == 0:
            return "hakmem blocks_carved=0: hakmem carved no block (were calls routed elsewhere?)"
    return None
