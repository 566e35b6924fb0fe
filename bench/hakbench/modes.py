"""bench/run's modes: the matrix, A/B and A/A, the OS-call budget, callgrind, the CI smoke
and the listing. Each takes the parsed options and a Runner and returns the exit
status."""

import csv
import json
import os
import shutil
import statistics
import sys
import time

from . import abtest

from .allocators import DEFAULT_ALLOCATORS, PROFILES, Alloc, parse_alloc, resolve_allocs
from .process import OS_CALLS, CsvLog, Progress, parse_strace_summary, strace_wrapper
from .report import (fmt_dur, fmt_kb, fmt_rate, md_table, render_matrix, write_json, write_plots,
                     write_summary_files)
from .stats import summarise
from .util import check_quiet, cpu_model, die, host_meta, make_outdir, sha256, warn
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


# --------------------------------------------------------------------------- A/B and A/A


def _ab_pair(opts, runner):
    """(A, B, is_aa): the two allocators of --ab, or for --aa the build and a
    byte-identical copy of it under another path (another file: its own page-cache
    pages and mapping, as a real B build would have)."""
    if opts.aa:
        A, why = parse_alloc(opts.aa, runner.hakmem_lib, "A")
        if not A:
            die("A/A needs a build: %s" % why)
        copy = None
        if A.preload:
            d = os.path.join(runner.scratch, "aa-copy")
            os.makedirs(d, exist_ok=True)
            copy = os.path.join(d, os.path.basename(A.preload))
            shutil.copyfile(A.preload, copy)
        return A, Alloc("A'", copy, dict(A.env), A.expect, note="copy of A"), True
    a_spec, b_spec = opts.ab
    A, why_a = parse_alloc(a_spec, runner.hakmem_lib, "A")
    B, why_b = parse_alloc(b_spec, runner.hakmem_lib, "B")
    if not A or not B:
        die("A/B needs both: %s" % "; ".join(w for w in (why_a, why_b) if w))
    return A, B, False


def callgrind_ir(runner, opts, w, a, kind, outdir, valgrind):
    """One run of workload w with allocator a under callgrind. Returns (record or None,
    Run): record = {ops, ir, ir_per_op, note}. bench_start zeroes the counters and
    bench_stop dumps them ("part 1"): the timed part only."""
    cg = os.path.join(outdir, "callgrind.%s.%s.out" % (w.name, a.label.replace(":", "_").replace("/", "_")
                                                         .replace("'", "_copy")))
    for old in (cg, cg + ".1"):
        if os.path.exists(old):
            os.unlink(old)

    def wrap(argv, env):
        return [valgrind, "--tool=callgrind", "--callgrind-out-file=" + cg, "--dump-instr=no",
                "--compress-strings=no"] + argv, env
    r = runner.run(w, a, kind, 1, wrapper=wrap, timeout=max(opts.timeout, 1200))
    if not r.ok:
        return None, r
    part = cg + ".1"
    ir = parse_callgrind(part) if os.path.exists(part) else None
    note = ""
    if ir is None:
        ir = parse_callgrind(cg)
        note = "whole process (workload built without valgrind/callgrind.h)"
    ops = r.res.get("ops", 0) or 1
    return {"ops": r.res.get("ops"), "ir": ir, "ir_per_op": ir / ops if ir is not None else None, "note": note}, r


def _fmt_pct(x, signed=True):
    return "-" if x is None else (("%+.2f%%" if signed else "%.2f%%") % x)


def cmd_ab(opts, runner):
    A, B, is_aa = _ab_pair(opts, runner)
    name = "A/A" if is_aa else "A/B"
    workloads = _workloads(opts)
    kind = "quick" if opts.quick else "default"
    fixed = opts.runs
    outdir = make_outdir(opts.out, "-aa" if is_aa else "-ab")
    m = meta(runner, [A, B], workloads, kind, "aa" if is_aa else "ab")
    m["cpu_model"] = cpu_model()
    m["method"] = {"min_pairs": opts.min_pairs, "max_pairs": opts.max_pairs, "fixed_pairs": fixed,
                   "target_pct": opts.target, "min_effect_pct": opts.min_effect, "rule": abtest.RULE}
    valgrind = None if opts.no_callgrind else shutil.which("valgrind")
    check_quiet()
    how = ("%d pairs each" % fixed) if fixed else ("adaptive: %d..%d pairs, target interval %.1f%%"
                                                   % (opts.min_pairs, opts.max_pairs, opts.target))
    print("bench/run: %s, runs alternate A B | B A ..., %s -> %s" % (name, how, outdir), file=sys.stderr)
    print("    A   %s\n    %-3s %s" % (A.describe(), B.label, B.describe()), file=sys.stderr)
    if not valgrind:
        print("    (no callgrind opinion: %s)" % ("--no-callgrind" if opts.no_callgrind else "valgrind not installed"),
              file=sys.stderr)
    log = CsvLog(os.path.join(outdir, "runs.csv"))
    by_label = {"A": A, "B": B}
    results, runs, interrupted = [], [], False
    t0 = time.monotonic()
    try:
        for w in workloads:
            ctl = abtest.PairedAB(opts.min_pairs, opts.max_pairs, opts.target / 100.0, opts.min_effect / 100.0,
                                  fixed=fixed, b_name=B.label)
            res = {"workload": w.name, "ctl": ctl, "runs": [], "bad": [], "cg": {}}
            results.append(res)
            while not res["bad"] and not ctl.done():
                for _ in range(ctl.needs_more()):
                    vals = []
                    for lab in ctl.order():
                        r = runner.run(w, by_label[lab], kind, ctl.pairs + 1)
                        r.ab_label = lab
                        res["runs"].append(r)
                        runs.append(r)
                        log.add(r)
                        if r.ok and not (isinstance(r.metric(), (int, float)) and r.metric() > 0):
                            r.status, r.reason = "FAILED", "no positive ops_per_sec in the result line"
                        if not r.ok:
                            res["bad"].append(r)
                            print("    %s %s: %s: %s" % (w.name, by_label[lab].label, r.status, r.reason),
                                  file=sys.stderr, flush=True)
                            break
                        vals.append(r.metric())
                    if res["bad"]:
                        break
                    first = ctl.order()[0]
                    ctl.add(*vals)
                    va, vb = (vals if first == "A" else vals[::-1])
                    print("[%s %s] %-14s pair %2d (%-2s first)  A %-8s %s %-8s %s/A %+6.1f%%" % (
                        name, fmt_dur(time.monotonic() - t0), w.name, ctl.pairs, by_label[first].label,
                        fmt_rate(va), B.label, fmt_rate(vb), B.label, (vb / va - 1) * 100),
                        file=sys.stderr, flush=True)
                if not res["bad"] and ctl.pairs >= ctl.min_pairs:
                    v = ctl.result()
                    if v["lo"] is not None and v["floor"] is not None:
                        print("    %s after %d pairs: %s vs A %+.2f%% (%d%% CI %+.2f%%..%+.2f%%), noise floor "
                              "+-%.2f%% -> %s" % (w.name, ctl.pairs, B.label, v["est_pct"], abtest.LEVEL, v["lo_pct"],
                                                  v["hi_pct"], v["floor_pct"], v["verdict"]),
                              file=sys.stderr, flush=True)
            if not res["bad"] and valgrind and w.threads is None:
                for x in (A, B):
                    print("[%s] %-14s %s under callgrind" % (name, w.name, x.label), file=sys.stderr, flush=True)
                    rec, r = callgrind_ir(runner, opts, w, x, "quick" if opts.quick else "cg", outdir, valgrind)
                    if rec is None:
                        res["cg_error"] = "%s %s: %s" % (x.label, r.status, r.reason)
                        break
                    res["cg"][x.label] = rec
    except KeyboardInterrupt:
        interrupted = True
        print("\nbench/run: interrupted; summarising the pairs finished", file=sys.stderr)
    log.close()
    m["loadavg_end"] = os.getloadavg()
    m["elapsed_s"] = time.monotonic() - t0
    text, verdicts, overall, recs = render_ab(results, A, B, name, kind, how, m, interrupted)
    print(text)
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(text + "\n")
    m["verdicts"] = {r["workload"]: v for r, v in zip(recs, verdicts)}
    m["overall"] = overall
    write_json(os.path.join(outdir, "results.json"),
               {"meta": m, "workloads": recs,
                "runs": [dict(r.row(), ab=getattr(r, "ab_label", ""), fields=r.res) for r in runs]})
    print("results: %s (runs.csv, summary.md, results.json)" % outdir, file=sys.stderr)
    if interrupted:
        return 130
    if is_aa:
        return 0 if overall == "NEUTRAL" else 1
    return 1 if overall in ("INVALID", "INCOMPLETE") else 0


def render_ab(results, A, B, name, kind, how, m, interrupted):
    """The Markdown report; returns (text, verdicts, overall, per-workload records)."""
    lines = ["## %s (%s parameters, %s%s)" % (name, kind, how, ", INTERRUPTED: partial" if interrupted else ""),
             "", "- A: %s" % A.describe(),
             "- %s: %s%s" % (B.label, B.describe(), " (byte-identical copy of A)" if name == "A/A" else ""),
             "- %s, %s CPUs (%s), load average %.2f at the start, %.2f at the end, git %s" % (
                 m["date"], m["cpus"], m.get("cpu_model", "?"), m["loadavg_start"][0], m["loadavg_end"][0], m["git"]),
             "", abtest.RULE, ""]
    rows, verdicts, whys, recs, floors = [], [], [], [], []
    for res in results:
        ctl, wn = res["ctl"], res["workload"]
        rss = {lab: [r.maxrss for r in res["runs"] if r.ok and r.maxrss and r.ab_label == lab] for lab in "AB"}
        rss_txt = "%s / %s" % tuple(fmt_kb(int(statistics.median(rss[lab]))) if rss[lab] else "-" for lab in "AB")
        cga, cgb = res["cg"].get(A.label), res["cg"].get(B.label)
        ird, irword = abtest.ir_opinion(cga and cga["ir_per_op"], cgb and cgb["ir_per_op"])
        ir_txt = "%s (%s)" % (_fmt_pct(ird), irword) if ird is not None else "-"
        rec = {"workload": wn, "pairs": ctl.pairs, "sequence": ctl.seq, "ab_log_ratios": ctl.ab(),
               "aa_log_ratios": ctl.aa(), "callgrind": res["cg"], "ir_change_pct": ird}
        if res["bad"]:
            v = "INVALID" if any(r.status == "INVALID" for r in res["bad"]) else "INCOMPLETE"
            why = "; ".join("%s %s: %s" % (r.alloc.label, r.status, r.reason) for r in res["bad"])
            rows.append([wn, str(ctl.pairs), "-", "-", "-", "-", "-", "-", ir_txt, rss_txt, v])
        else:
            r = ctl.result()
            rec.update({k: r[k] for k in ("est_pct", "lo_pct", "hi_pct", "floor_pct", "n", "n_aa", "faster",
                                          "slower", "coverage", "reason", "stop")})
            v, why = r["verdict"], r["reason"]
            if ctl.pairs == 0:
                v, why = "INCOMPLETE", "no pair finished"
            if r["stop"]:
                why += " [%s]" % r["stop"]
            elif interrupted:
                why += " [interrupted]"
            if ird is not None and irword != "same":
                if (v == "GO" and irword == "more") or (v == "NO-GO" and irword == "fewer"):
                    why += "; callgrind DISAGREES: B executes %.2f%% %s instructions per op" % (abs(ird), irword)
                elif v == "NEUTRAL":
                    why += "; callgrind: B executes %.2f%% %s instructions per op" % (abs(ird), irword)
            if res.get("cg_error"):
                why += "; callgrind failed (%s)" % res["cg_error"]
            if r["floor_pct"] is not None:
                floors.append((r["floor_pct"], wn))
            va, vb = ctl.values("A"), ctl.values("B")
            rows.append([wn, str(ctl.pairs), fmt_rate(statistics.median(va)) if va else "-",
                         fmt_rate(statistics.median(vb)) if vb else "-", _fmt_pct(r["est_pct"]),
                         "%s..%s" % (_fmt_pct(r["lo_pct"]), _fmt_pct(r["hi_pct"])) if r["lo"] is not None else "-",
                         ("+-%.2f%%" % r["floor_pct"]) if r["floor_pct"] is not None else "-",
                         "%d/%d" % (r["faster"], ctl.pairs), ir_txt, rss_txt, "**%s**" % v if v != "NEUTRAL" else v])
        rec["verdict"], rec["why"] = v, why
        verdicts.append(v)
        whys.append("- %s: %s: %s" % (wn, v, why))
        recs.append(rec)
    lines.append(md_table(["workload", "pairs", "A median ops/s", "%s median ops/s" % B.label, "%s vs A" % B.label,
                           "%d%% CI" % abtest.LEVEL, "noise floor", "%s faster" % B.label, "instr/op %s vs A" % B.label,
                           "peak RSS A / %s" % B.label, "verdict"], rows))
    lines += ["", "Why:", ""] + whys
    if floors:
        fl = sorted(floors)
        lines += ["", "Noise floor measured (A/A spread of this run, +-half-width of its %d%% interval): "
                      "median +-%.2f%% over %d workloads, smallest +-%.2f%% (%s), largest +-%.2f%% (%s). "
                      "No GO / NO-GO is called inside it." % (
                          abtest.LEVEL, statistics.median(f for f, _ in fl), len(fl), fl[0][0], fl[0][1], fl[-1][0],
                          fl[-1][1])]
    ov = abtest.overall(verdicts)
    lines += ["", "Overall: **%s** (%s)" % (ov, abtest.OVERALL_RULE)]
    if name == "A/A" and interrupted:
        lines.append("A/A interrupted: partial, %s so far" % ov)
    elif name == "A/A":
        lines.append("A/A %s" % ("passed: NEUTRAL, as a build against itself must be" if ov == "NEUTRAL" else
                                 "FAILED: a build against a copy of itself must be NEUTRAL; the verdict rule "
                                 "or the machine is broken"))
    return "\n".join(lines), verdicts, ov, recs


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
                rec, r = callgrind_ir(runner, opts, w, a, kind, outdir, valgrind)
                if rec is None:
                    failed += 1
                    rows.append([w.name, a.label, "-", "-", "-", "-", "%s: %s" % (r.status, r.reason)])
                    continue
                rec.update({"workload": w.name, "allocator": a.label})
                recs[(w.name, a.label)] = rec
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
