"""bench/run's modes: the matrix, A/B, the OS-call budget, callgrind, the CI smoke
and the listing. Each takes the parsed options and a Runner and returns the exit
status."""

import csv
import json
import os
import shutil
import statistics
import sys

from .allocators import DEFAULT_ALLOCATORS, PROFILES, parse_alloc, resolve_allocs
from .process import OS_CALLS, CsvLog, Progress, parse_strace_summary, strace_wrapper
from .report import (fmt_kb, fmt_rate, md_table, render_matrix, write_json, write_plots,
                     write_summary_files)
from .stats import AB_OVERALL_RULE, AB_RULE, ab_overall, ab_verdict, describe, summarise
from .util import check_quiet, die, host_meta, make_outdir, sha256, warn
from .workloads import WORKLOADS, select_workloads


def meta(runner, allocs, workloads, kind, mode):
    m = {"mode": mode}
    m.update(host_meta())
    m.update({"loadavg_start": os.getloadavg(), "params": kind,
              "allocators": {a.label: {"preload": a.preload, "env": a.env, "expect": a.expect,
                                       "sha256": sha256(a.preload) if a.preload else None} for a in allocs},
              "workloads": {w.name: runner.args_for(w, kind) for w in workloads}})
    return m


def _workloads(opts):
    return select_workloads(opts.workloads.split(",") if opts.workloads else opts.positional)


# --------------------------------------------------------------------------- the matrix


def cmd_matrix(opts, runner):
    specs = opts.allocators.split(",") if opts.allocators else DEFAULT_ALLOCATORS
    allocs, missing = resolve_allocs(specs, runner.hakmem_lib)
    if not allocs:
        die("no allocator available")
    workloads = _workloads(opts)
    kind = "quick" if opts.quick else "default"
    nruns = opts.runs or 5
    outdir = make_outdir(opts.out)
    m = meta(runner, allocs, workloads, kind, "matrix")
    m["missing_allocators"] = missing
    check_quiet()
    print("bench/run: %d workloads x %d allocators x %d runs -> %s" % (len(workloads), len(allocs), nruns, outdir),
          file=sys.stderr)
    for a in allocs:
        print("    %-16s %s" % (a.label, a.describe()), file=sys.stderr)
    log = CsvLog(os.path.join(outdir, "runs.csv"))
    schedule = [(w, k, a) for w in workloads for k in range(1, nruns + 1) for a in allocs]
    est = (lambda w: 0.05) if opts.quick else (lambda w: w.est + 0.05)
    prog = Progress(len(schedule), est)
    runs, interrupted = [], False
    try:
        for i, (w, k, a) in enumerate(schedule):
            prog.start(w, a, k, nruns, [s[0] for s in schedule[i:]])
            r = runner.run(w, a, kind, k)
            runs.append(r)
            log.add(r)
            prog.finish(r)
    except KeyboardInterrupt:
        interrupted = True
        print("\nbench/run: interrupted; %d runs finished, summarising those" % len(runs), file=sys.stderr)
    log.close()
    m["loadavg_end"] = os.getloadavg()
    m["interrupted"] = interrupted
    cells = summarise(runs, workloads, allocs)
    text = render_matrix(cells, workloads, allocs, kind, nruns, interrupted)
    print(text)
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(text + "\n")
    write_summary_files(outdir, cells, workloads, allocs, runs, m)
    if not opts.no_plots:
        write_plots(outdir, cells, workloads, allocs)
    print("results: %s (runs.csv, summary.csv, summary.md, results.json)" % outdir, file=sys.stderr)
    if interrupted:
        return 130
    return 1 if any(not r.ok for r in runs) else 0


# --------------------------------------------------------------------------- A/B


def cmd_ab(opts, runner):
    a_spec, b_spec = opts.ab
    A, why_a = parse_alloc(a_spec, runner.hakmem_lib, "A")
    B, why_b = parse_alloc(b_spec, runner.hakmem_lib, "B")
    if not A or not B:
        die("A/B needs both: %s" % "; ".join(w for w in (why_a, why_b) if w))
    workloads = _workloads(opts)
    kind = "quick" if opts.quick else "default"
    nruns = opts.runs or 10
    outdir = make_outdir(opts.out, "-ab")
    m = meta(runner, [A, B], workloads, kind, "ab")
    check_quiet()
    print("bench/run: A/B, %d runs each, alternating -> %s" % (nruns, outdir), file=sys.stderr)
    print("    A  %s\n    B  %s" % (A.describe(), B.describe()), file=sys.stderr)
    log = CsvLog(os.path.join(outdir, "runs.csv"))
    schedule = [(w, k, x) for w in workloads for k in range(1, nruns + 1) for x in (A, B)]
    prog = Progress(len(schedule), (lambda w: 0.05) if opts.quick else (lambda w: w.est + 0.05))
    runs, interrupted = [], False
    try:
        for i, (w, k, x) in enumerate(schedule):
            prog.start(w, x, k, nruns, [s[0] for s in schedule[i:]])
            r = runner.run(w, x, kind, k)
            runs.append(r)
            log.add(r)
            prog.finish(r)
    except KeyboardInterrupt:
        interrupted = True
        print("\nbench/run: interrupted; %d runs finished" % len(runs), file=sys.stderr)
    log.close()
    lines = ["## A/B (%s parameters, %d alternating runs each%s)" % (kind, nruns,
                                                                     ", INTERRUPTED: partial" if interrupted else ""),
             "", "- A: %s" % A.describe(), "- B: %s" % B.describe(), "", AB_RULE, ""]
    rows, verdicts = [], []
    for w in workloads:
        ra = [r for r in runs if r.wl is w and r.alloc is A]
        rb = [r for r in runs if r.wl is w and r.alloc is B]
        if not ra and not rb:
            continue
        sa = describe([r.metric() for r in ra if r.ok])
        sb = describe([r.metric() for r in rb if r.ok])
        bad = [r for r in ra + rb if not r.ok]
        rss_a = [r.maxrss for r in ra if r.ok and r.maxrss]
        rss_b = [r.maxrss for r in rb if r.ok and r.maxrss]
        if bad or not sa or not sb or sa["n"] < 2 or sb["n"] < 2:
            v = "INVALID" if bad else "INCOMPLETE"
            rows.append([w.name, fmt_rate(sa["mean"]) if sa else "-", fmt_rate(sb["mean"]) if sb else "-", "-",
                         "-", "-", "-", "-", v])
            verdicts.append(v)
            for r in bad:
                lines.append("- %s %s run %d %s: %s" % (w.name, r.alloc.label, r.k, r.status, r.reason))
            continue
        v, diff = ab_verdict(sa, sb)
        verdicts.append(v)
        rows.append([w.name, fmt_rate(sa["mean"]), fmt_rate(sb["mean"]), "%+.2f%%" % diff,
                     "%s..%s" % (fmt_rate(sa["ci_lo"]), fmt_rate(sa["ci_hi"])),
                     "%s..%s" % (fmt_rate(sb["ci_lo"]), fmt_rate(sb["ci_hi"])),
                     "%.1f%% / %.1f%%" % (sa["cv"] * 100, sb["cv"] * 100),
                     "%s / %s" % (fmt_kb(int(statistics.median(rss_a))) if rss_a else "-",
                                  fmt_kb(int(statistics.median(rss_b))) if rss_b else "-"), v])
    table = md_table(["workload", "A mean ops/s", "B mean ops/s", "B vs A", "A 95% CI", "B 95% CI", "CV A / B",
                      "peak RSS A / B", "verdict"], rows)
    overall = ab_overall(verdicts)
    text = "\n".join(lines + [table, "", "Overall: **%s** (%s)" % (overall, AB_OVERALL_RULE)])
    print(text)
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(text + "\n")
    m["loadavg_end"] = os.getloadavg()
    m["verdicts"] = dict(zip([w.name for w in workloads], verdicts))
    m["overall"] = overall
    write_json(os.path.join(outdir, "results.json"), {"meta": m, "runs": [dict(r.row(), fields=r.res) for r in runs]})
    print("results: %s" % outdir, file=sys.stderr)
    if interrupted:
        return 130
    return 1 if overall == "INVALID" else 0


# --------------------------------------------------------------------------- OS-call budget


def cmd_syscalls(opts, runner):
    specs = opts.allocators.split(",") if opts.allocators else DEFAULT_ALLOCATORS
    allocs, missing = resolve_allocs(specs, runner.hakmem_lib)
    workloads = _workloads(opts)
    kind = "quick" if opts.quick else "default"
    strace = shutil.which("strace")
    if not strace:
        warn("strace is not installed: only hakmem's own counters can be shown (bench/install-peers installs it)")
    outdir = make_outdir(opts.out, "-syscalls")
    rows, recs, failed = [], [], 0
    straced = os.path.join(runner.scratch, "strace.out")
    try:
        for w in workloads:
            for a in allocs:
                sources = []
                if a.expect == "hakmem":
                    sources.append("counters")
                if strace:
                    sources.append("strace")
                if not sources:
                    rows.append([w.name, a.label, "-", "-", "-", "-", "-", "-", "-", "-", "strace not installed"])
                for src in sources:
                    print("[syscalls] %-14s %-14s %s" % (w.name, a.label, src), file=sys.stderr, flush=True)
                    wr = strace_wrapper(strace, straced, a) if src == "strace" else None
                    counts = []
                    for kind_ in ("zero", kind):  # the start-up baseline, then the real run
                        r = runner.run(w, a, kind_, 1, wrapper=wr)
                        if kind_ == "zero" and r.status == "INVALID" and r.res.get("allocator") == a.expect:
                            r.status = "ok"  # a run of no operations may carve nothing: only the counts matter
                        if not r.ok:
                            break
                        if src == "counters":
                            counts.append({c: r.res.get("hak_os_" + c, 0) for c in OS_CALLS})
                        else:
                            counts.append(parse_strace_summary(straced))
                    if not r.ok:
                        failed += 1
                        rows.append([w.name, a.label, src, "-", "-", "-", "-", "-", "-", "-",
                                     "%s%s: %s" % ("start-up run " if len(counts) == 0 else "", r.status, r.reason)])
                        continue
                    base, cnt = counts
                    ops = r.res.get("ops", 0) or 1
                    tot = sum(cnt.values())
                    net = tot - sum(base.values())
                    rows.append([w.name, a.label, src, str(r.res.get("ops"))] + [str(cnt[c]) for c in OS_CALLS]
                                + [str(sum(base.values())), "%.3g" % (net / ops), ""])
                    recs.append({"workload": w.name, "allocator": a.label, "source": src, "ops": r.res.get("ops"),
                                 **cnt, "total": tot, "startup": sum(base.values()), "per_op": net / ops})
    except KeyboardInterrupt:
        print("\nbench/run: interrupted", file=sys.stderr)
    text = "\n".join(["## OS calls per operation (%s parameters)" % kind, "",
                      "mmap+munmap+madvise+mremap over the whole process. counters = hakmem's own os_* counters; "
                      "strace = strace -f -c (also counts the dynamic loader's mappings). start-up = the same count "
                      "for a run of the same workload with no operations; calls/op = (total - start-up) / ops.", "",
                      md_table(["workload", "allocator", "source", "ops"] + list(OS_CALLS)
                               + ["start-up", "calls/op", "note"], rows)])
    print(text)
    with open(os.path.join(outdir, "syscalls.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(outdir, "syscalls.csv"), "w", newline="") as f:
        cw = csv.DictWriter(f, fieldnames=["workload", "allocator", "source", "ops"] + list(OS_CALLS)
                            + ["total", "startup", "per_op"])
        cw.writeheader()
        cw.writerows(recs)
    print("results: %s" % outdir, file=sys.stderr)
    return 1 if failed else 0


# --------------------------------------------------------------------------- callgrind


def parse_callgrind(path):
    with open(path) as f:
        for ln in f:
            if ln.startswith("summary:") or ln.startswith("totals:"):
                return int(ln.split()[1])
    return None


def cmd_callgrind(opts, runner):
    valgrind = shutil.which("valgrind")
    if not valgrind:
        die("valgrind is not installed (apt-get install valgrind)")
    specs = opts.allocators.split(",") if opts.allocators else DEFAULT_ALLOCATORS
    allocs, missing = resolve_allocs(specs, runner.hakmem_lib)
    workloads = _workloads(opts)
    kind = "quick" if opts.quick else "cg"
    outdir = make_outdir(opts.out, "-callgrind")
    recs, failed = {}, 0
    rows = []
    try:
        for w in workloads:
            for a in allocs:
                print("[callgrind] %-14s %s" % (w.name, a.label), file=sys.stderr, flush=True)
                cg = os.path.join(outdir, "callgrind.%s.%s.out" % (w.name, a.label.replace(":", "_").replace("/", "_")))
                for old in (cg, cg + ".1"):
                    if os.path.exists(old):
                        os.unlink(old)

                def wrap(argv, env, cg=cg):
                    return [valgrind, "--tool=callgrind", "--callgrind-out-file=" + cg, "--dump-instr=no",
                            "--compress-strings=no"] + argv, env
                r = runner.run(w, a, kind, 1, wrapper=wrap, timeout=max(opts.timeout, 1200))
                if not r.ok:
                    failed += 1
                    rows.append([w.name, a.label, "-", "-", "-", "-", "%s: %s" % (r.status, r.reason)])
                    continue
                # bench_start zeroes the counters and bench_stop dumps them ("part 1"): the timed part only.
                part = cg + ".1"
                ir = parse_callgrind(part) if os.path.exists(part) else None
                note = ""
                if ir is None:
                    ir = parse_callgrind(cg)
                    note = "whole process (workload built without valgrind/callgrind.h)"
                ops = r.res.get("ops", 0) or 1
                recs[(w.name, a.label)] = {"workload": w.name, "allocator": a.label, "ops": r.res.get("ops"),
                                           "ir": ir, "ir_per_op": ir / ops, "note": note}
    except KeyboardInterrupt:
        print("\nbench/run: interrupted", file=sys.stderr)
    for w in workloads:
        base = recs.get((w.name, "mimalloc")) or recs.get((w.name, "system"))
        for a in allocs:
            rec = recs.get((w.name, a.label))
            if not rec:
                continue
            rel = ("%.2fx %s" % (rec["ir_per_op"] / base["ir_per_op"], base["allocator"])) if base else "-"
            rec["ratio_to"] = base["allocator"] if base else None
            rec["ratio"] = rec["ir_per_op"] / base["ir_per_op"] if base else None
            rows.append([w.name, a.label, str(rec["ops"]), str(rec["ir"]), "%.1f" % rec["ir_per_op"], rel,
                         rec["note"]])
    text = "\n".join(["## Instructions per operation (callgrind, %s parameters)" % kind, "",
                      "Instructions executed in the timed part (all threads) / ops; includes the workload's own "
                      "loop (PRNG, checks), which is the same for every allocator. Lower is better.", "",
                      md_table(["workload", "allocator", "ops", "instructions", "instr/op", "vs", "note"], rows)])
    print(text)
    with open(os.path.join(outdir, "callgrind.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(outdir, "callgrind.json"), "w") as f:
        json.dump(list(recs.values()), f, indent=1)
    print("results: %s" % outdir, file=sys.stderr)
    return 1 if failed else 0


# --------------------------------------------------------------------------- smoke (CI)


def cmd_smoke(opts, runner):
    specs = opts.allocators.split(",") if opts.allocators else ["system", "hakmem"]
    workloads = _workloads(opts)
    passed = failed = 0
    for s in specs:
        a, why = parse_alloc(s, runner.hakmem_lib)
        if not a:
            print("FAIL %s: %s" % (s, why))
            failed += len(workloads)
            continue
        for w in workloads:
            r = runner.run(w, a, "quick", 1, timeout=min(opts.timeout, 300))
            if r.ok:
                passed += 1
                proof = "allocator=%s malloc_lib=%s" % (r.res.get("allocator"), r.res.get("malloc_lib"))
                if a.expect == "hakmem":
                    proof += " blocks_carved=%s large_allocs=%s" % (r.res.get("hak_blocks_carved"),
                                                                   r.res.get("hak_large_allocs"))
                print("PASS %-14s %-10s %.2fs  %s" % (w.name, a.label, r.wall, proof))
            else:
                failed += 1
                print("FAIL %-14s %-10s %s: %s" % (w.name, a.label, r.status, r.reason))
                if r.stderr:
                    for ln in r.stderr.splitlines():
                        print("     | " + ln)
            sys.stdout.flush()
    print("bench-smoke: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


# --------------------------------------------------------------------------- list


def cmd_list(opts, runner):
    print("workloads (default parameters | --quick | --callgrind):")
    for w in WORKLOADS:
        print("  %-14s %s\n  %-14s %s | %s | %s" % (w.name, w.desc, "", " ".join(runner.args_for(w, "default")),
                                                  " ".join(runner.args_for(w, "quick")),
                                                  " ".join(runner.args_for(w, "cg"))))
    print("allocators:")
    for s in DEFAULT_ALLOCATORS + ["hakmem:" + p for p in PROFILES]:
        a, why = parse_alloc(s, runner.hakmem_lib)
        print("  %-16s %s" % (s, a.describe() if a else "MISSING: " + why))
    print("tools: gnuplot %s, strace %s, valgrind %s" % tuple(
        "yes" if shutil.which(t) else "MISSING" for t in ("gnuplot", "strace", "valgrind")))
    return 0
