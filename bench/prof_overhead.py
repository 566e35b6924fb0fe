#!/usr/bin/env python3
# bench/prof_overhead.py [RUNS] — wall clock of a few workloads: glibc, heaptrack on glibc,
# hakmem, hakmem with HAKMEM_PROF=1 (docs/PROFILING.md, "Costs"). Needs heaptrack and make bench-build.
import subprocess, time, os, statistics, sys
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.path.join(ROOT, "build/bench/")
LIB = os.path.join(ROOT, "build/libhakmem.so")
W = [("random_mixed", [B+"random_mixed", "20000000", "400", "1"]),
     ("tiny_hot", [B+"tiny_hot", "50000000"]),
     ("mid_mixed.mid", [B+"mid_mixed", "mid", "5000000", "200", "1"]),
     ("larson", [B+"larson", "-", "2", "1000", "2000000"]),
     ("dbcache", [B+"dbcache", "64m", "1000000", "1"]),
     ("python build_index", ["/usr/bin/python3", os.path.join(ROOT, "docs/prof/build_index.py")])]
CONF = {
  "glibc": ({}, None),
  "heaptrack (glibc)": ({}, "heaptrack"),
  "hakmem": ({"LD_PRELOAD": LIB}, None),
  "hakmem + HAKMEM_PROF=1": ({"LD_PRELOAD": LIB, "HAKMEM_PROF": "1", "HAKMEM_PROF_FILE": "/dev/null"}, None),
}
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
res = {}
for name, argv in W:
    for r in range(runs):
        for c, (env, wrap) in CONF.items():
            e = dict(os.environ); e.update(env)
            if name.startswith("python"): e["PYTHONMALLOC"] = "malloc"
            cmd = argv
            if wrap == "heaptrack":
                cmd = ["heaptrack", "-o", "/tmp/prof-overhead-heaptrack.%s" % name.replace(" ", "_")] + argv
            t0 = time.time()
            subprocess.run(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            res.setdefault((name, c), []).append(time.time() - t0)
print("| workload | " + " | ".join(CONF) + " |")
print("|---|" + "---|" * len(CONF))
for name, _ in W:
    base = statistics.median(res[(name, "hakmem")])
    g = statistics.median(res[(name, "glibc")])
    cells = []
    for c in CONF:
        m = statistics.median(res[(name, c)])
        ref = g if c.startswith("heaptrack") or c == "glibc" else base
        cells.append("%.2f s (x%.2f)" % (m, m / ref))
    print("| %s | %s |" % (name, " | ".join(cells)))
