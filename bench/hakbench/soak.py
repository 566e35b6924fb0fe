"""bench/soak (hakmem soak): one workload, one long-lived process per allocator,
driven epoch by epoch over a pipe (docs/SOAK.md).

Every allocator gets its own build/bench/soak_workload process, started with that
allocator preloaded. The harness runs them round-robin: it tells one process to
run one epoch ("epoch SECONDS"), waits for its report line, then the next. Only one
process computes at any moment; the others block on their pipe, holding their heap.
On a shared 2-core machine this keeps the allocators from competing for the cores,
and slow drift of the machine hits all of them alike, epoch after epoch.

Each report line carries the allocator proof (check_proof, on every epoch), the
operations, RSS, the workload's live bytes and, for hakmem, its own OS-call
counters. The peers' OS calls are counted afterwards in a separate, shorter pass
under strace, so no tracer ever slows a measured epoch.
"""

import csv
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import time

from .allocators import PROFILES, check_proof, child_env, resolve_allocs
from .process import OS_CALLS, CsvLog, StraceLog, parse_kv, strace_wrapper
from .report import SOAK_SECTIONS, fmt_dur, fmt_kb, fmt_rate, render_soak, write_json, write_soak_plots
from .stats import soak_figures
from .util import cpu_model, die, host_meta, make_outdir, sha256, warn
from .workloads import SOAK_WORKLOADS

SOAK_ALLOCATORS = ["hakmem:" + p for p in PROFILES] + ["system", "mimalloc", "jemalloc", "tcmalloc"]

EPOCH_FIELDS = ["allocator", "epoch", "t", "wall_s", "seconds", "ops", "ops_per_sec", "live_bytes", "live_blocks",
                "target_bytes", "rss_kb", "peak_rss_kb", "rss_per_live", "minflt", "cpu_share"] + \
               ["os_" + c for c in OS_CALLS] + ["os_source", "hak_mapped_bytes", "loadavg", "detected",
                                                 "malloc_lib", "proof"]


class SoakError(Exception):
    pass


def parse_size(s):
    """"256m" -> bytes (k/m/g are powers of 1024, as in the workloads)."""
    s = str(s).strip().lower().rstrip("b").rstrip("i")
    mul = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(s[-1:], 1)
    return int(float(s[:-1] if mul > 1 else s) * mul)


# --------------------------------------------------------------------------- one process


class Participant:
    """One allocator's workload process and the line protocol with it."""

    def __init__(self, alloc, argv, env, stderr_path, strace_log=None):
        self.alloc, self.argv, self.env, self.stderr_path = alloc, argv, env, stderr_path
        self.strace = StraceLog(strace_log) if strace_log else None
        self.proc, self.buf = None, b""
        self.status, self.reason = "ok", None
        self.ready, self.done, self.last = None, None, None
        self.os_base = None

    @property
    def label(self):
        return self.alloc.label

    @property
    def alive(self):
        return self.status == "ok"

    def start(self):
        self.err = open(self.stderr_path, "wb")
        # Its own session: a Ctrl-C in the terminal reaches the harness only, which then
        # writes the report and stops the processes itself.
        self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, start_new_session=True)

    def _exit_reason(self):
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        why = "exit status %d" % code if code >= 0 else "killed by signal %d" % -code
        try:
            with open(self.stderr_path, errors="replace") as f:
                tail = f.read().strip().splitlines()
            if tail:
                why += ": " + tail[-1]
        except OSError:
            pass
        return why

    def _line(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SoakError("no answer within %.0f s" % timeout)
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise SoakError(self._exit_reason())
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def expect(self, word, timeout):
        """The next line starting with word, parsed."""
        while True:
            line = self._line(timeout)
            if line.startswith(word + " "):
                return parse_kv(line)

    def send(self, text):
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SoakError(self._exit_reason())

    def os_counts(self, res):
        """OS calls so far (cumulative, with the start-up's) and where they come from."""
        if self.strace:
            return self.strace.update(), "strace"
        if self.alloc.expect == "hakmem" and "hak_os_mmap" in res:
            return {c: res.get("hak_os_" + c, 0) for c in OS_CALLS}, "counters"
        return None, ""

    def fail(self, status, reason):
        self.status, self.reason = status, reason
        self.kill()

    def quit(self, timeout):
        """Asks the process to free everything and exit; returns its "done" report."""
        if not self.proc or self.proc.poll() is not None:
            return None
        try:
            self.send("quit\n")
            self.done = self.expect("done", timeout)
            self.proc.wait(timeout=timeout)
        except (SoakError, subprocess.TimeoutExpired) as e:
            if self.alive:
                self.status, self.reason = "FAILED", "at exit: %s" % e
        self.kill()
        return self.done

    def kill(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # strace and the workload under it
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for f in (getattr(self, "err", None), self.proc and self.proc.stdin, self.proc and self.proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass


# --------------------------------------------------------------------------- the round-robin


class Pass:
    """One round-robin over a set of participants for n epochs."""

    def __init__(self, name, parts, n, o, csv_path, t0, later_s=0.0, quiet=False):
        self.name, self.parts, self.n, self.o, self.t0 = name, parts, n, o, t0
        self.rows = {p.label: [] for p in parts}
        self.log = CsvLog(csv_path, EPOCH_FIELDS)
        self.later_s, self.quiet = later_s, quiet

    def start(self):
        for p in self.parts:
            p.start()
        for p in self.parts:
            try:
                res = p.expect("ready", 120)
            except SoakError as e:
                p.fail("FAILED", "at start-up: %s" % e)
                continue
            # The proof at start: the right allocator serves malloc (hakmem: its counters are there).
            why = check_proof(res, p.alloc, "loaded")
            if why:
                p.fail("INVALID", "at start-up: " + why)
                continue
            p.ready = p.last = res
            p.os_base = p.os_counts(res)[0]

    def run(self):
        E = self.o.epoch
        timeout = 3 * E + 120
        for e in range(1, self.n + 1):
            for i, p in enumerate(self.parts):
                if not p.alive:
                    continue
                try:
                    p.send("epoch %g\n" % E)
                    res = p.expect("epoch", timeout)
                except SoakError as ex:
                    p.fail("FAILED", "epoch %d: %s" % (e, ex))
                    self.say("    %s FAILED: %s" % (p.label, p.reason))
                    continue
                why = check_proof(res, p.alloc, "small")
                row = self.row(p, res, why)
                p.last = res
                self.log.add(row)
                if why:
                    p.fail("INVALID", "epoch %d: %s" % (e, why))
                    self.say("    %s INVALID: %s" % (p.label, p.reason))
                    continue
                self.rows[p.label].append(row)
                left = ((self.n - e) * len(self.parts) + (len(self.parts) - 1 - i)) * E + self.later_s
                self.say(self.progress(e, p, row, left))

    def row(self, p, res, why):
        prev = p.last
        counts, src = p.os_counts(res)
        os_so_far = {c: counts[c] - p.os_base[c] for c in OS_CALLS} if counts and p.os_base else None
        dcpu = res.get("cpu_s", 0) - prev.get("cpu_s", 0)
        secs = res.get("seconds") or 0
        live = res.get("live_bytes") or 0
        r = {"allocator": p.label, "epoch": res.get("n"), "t": res.get("t"),
             "wall_s": round(time.monotonic() - self.t0, 3), "seconds": secs, "ops": res.get("ops"),
             "ops_per_sec": res.get("ops_per_sec"), "live_bytes": live, "live_blocks": res.get("live_blocks"),
             "target_bytes": res.get("target_bytes"), "rss_kb": res.get("rss_kb"),
             "peak_rss_kb": res.get("peak_rss_kb"),
             "rss_per_live": round(res.get("rss_kb", 0) * 1024 / live, 4) if live else "",
             "minflt": res.get("minflt", 0) - prev.get("minflt", 0),
             "cpu_share": round(dcpu / secs, 3) if secs else "",
             "os_source": src if os_so_far else "", "hak_mapped_bytes": res.get("hak_mapped_bytes", ""),
             "loadavg": os.getloadavg()[0], "detected": res.get("allocator"), "malloc_lib": res.get("malloc_lib"),
             "proof": "ok" if not why else "INVALID: " + why}
        for c in OS_CALLS:
            r["os_" + c] = os_so_far[c] if os_so_far else ""
        return r

    def progress(self, e, p, row, left):
        osc = ("%d" % sum(row["os_" + c] for c in OS_CALLS)) if row["os_source"] else "-"
        return ("[%s %*d/%d] %-16s t=%-6s %9s ops/s  RSS %10s  live %10s  RSS/live %5s  OS calls %s  "
                "(%s, ~%s left)" % (
                    self.name, len(str(self.n)), e, self.n, p.label, "%.0fs" % row["t"], fmt_rate(row["ops_per_sec"]),
                    fmt_kb(row["rss_kb"]), fmt_kb(row["live_bytes"] // 1024),
                    "%.2f" % row["rss_per_live"] if row["rss_per_live"] != "" else "-", osc,
                    fmt_dur(time.monotonic() - self.t0), fmt_dur(left)))

    def say(self, msg):
        if not self.quiet:
            print(msg, flush=True)

    def finish(self, timeout=120):
        for p in self.parts:
            if p.alive:
                p.quit(timeout)
            else:
                p.kill()
        self.log.close()

    def kill_all(self):
        for p in self.parts:
            p.kill()
        self.log.close()


# --------------------------------------------------------------------------- the soak


def os_summary(p, rows):
    """OS calls of one participant over its epochs: totals, per op, per second."""
    if not rows or not rows[-1]["os_source"]:
        return None
    last = rows[-1]
    tot = {c: last["os_" + c] for c in OS_CALLS}
    ops = sum(r["ops"] for r in rows)
    t = rows[-1]["t"]
    n = sum(tot.values())
    return {"source": last["os_source"], "epochs": len(rows), "t": t, "ops": ops, **tot, "total": n,
            "per_op": n / ops if ops else None, "per_s": n / t if t else None}


def run_soak(o, ctx, quiet=False):
    """Runs the soak described by the options o; returns (exit status, outdir)."""
    wl = SOAK_WORKLOADS[o.workload]
    specs = o.allocators.split(",") if o.allocators else SOAK_ALLOCATORS
    allocs, missing = resolve_allocs([s.strip() for s in specs if s.strip()], ctx.hakmem_lib)
    if not allocs:
        die("no allocator available")
    outdir = make_outdir(o.out, "-soak")
    logdir = os.path.join(outdir, "logs")
    os.makedirs(logdir, exist_ok=True)
    n = max(1, int(round(o.duration / o.epoch)))
    warmup = min(n - 1, max(0, int(math.ceil(o.warmup / o.epoch - 1e-9))))
    period_epochs = max(1, int(round(o.period / o.epoch))) if wl.periodic else None
    argv = [ctx.binary("soak_workload")] + wl.args(o)
    strace = shutil.which("strace") if o.os_calls == "strace" else None
    peers = [a for a in allocs if a.expect != "hakmem"]
    n_trace = 0
    if peers and o.os_calls == "strace":
        if strace:
            n_trace = max(1, int(round(min(o.duration, o.trace_duration) / o.epoch)))
        else:
            warn("strace is not installed: the peers' OS calls are not counted (bench/install-peers installs it)")

    m = {"mode": "soak"}
    m.update(host_meta())
    m.update({"cpu_model": cpu_model(), "workload": wl.name, "workload_desc": wl.describe(o),
              "workload_argv": wl.args(o), "epoch_s": o.epoch, "epochs": n, "duration_s": n * o.epoch,
              "warmup_epochs": warmup, "period_epochs": period_epochs, "trace_epochs": n_trace,
              "os_calls": o.os_calls if strace or o.os_calls == "none" else "none (strace missing)",
              "loadavg_start": os.getloadavg(), "missing_allocators": missing,
              "allocators": {a.label: {"preload": a.preload, "env": a.env, "expect": a.expect,
                                       "sha256": sha256(a.preload) if a.preload else None} for a in allocs}})
    wall = (n * len(allocs) + n_trace * len(peers)) * o.epoch
    if not quiet:
        print("hakmem soak: %s, %d allocators x %d epochs of %g s (+ %d strace epochs for %d peers): about %s"
              " -> %s" % (wl.name, len(allocs), n, o.epoch, n_trace, len(peers) if n_trace else 0,
                          fmt_dur(wall), outdir), file=sys.stderr)
        for a in allocs:
            print("    %-16s %s" % (a.label, a.describe()), file=sys.stderr)
        if os.getloadavg()[0] > 0.5:
            warn("load average is %.2f: other work is running; the cpu_share column shows which epochs it hit"
                 % os.getloadavg()[0])

    def part(a, traced):
        env = child_env(a, ctx.extra_env)
        args = list(argv)
        log = None
        tag = a.label.replace("/", "_").replace(":", "_")
        if traced:
            log = os.path.join(ctx.scratch, "strace.%s.log" % tag)
            args, env = strace_wrapper(strace, log, a, summary=False)(args, env)
        return Participant(a, args, env, os.path.join(logdir, "%s%s.stderr" % (tag, ".strace" if traced else "")),
                           log)

    t0 = time.monotonic()
    main = Pass("epoch", [part(a, False) for a in allocs], n, o, os.path.join(outdir, "soak.csv"), t0,
                later_s=n_trace * len(peers) * o.epoch, quiet=quiet)
    trace = None
    interrupted = False
    try:
        main.start()
        main.run()
        main.finish()
        if n_trace:
            if not quiet:
                print("hakmem soak: counting the peers' OS calls: %d epochs each under strace (throughput of "
                      "these epochs is not used)" % n_trace, file=sys.stderr)
            trace = Pass("strace", [part(a, True) for a in peers], n_trace, o,
                         os.path.join(outdir, "soak_strace.csv"), t0, quiet=quiet)
            trace.start()
            trace.run()
            trace.finish()
    except KeyboardInterrupt:
        interrupted = True
        print("\nhakmem soak: interrupted; writing the report of the epochs finished", file=sys.stderr)
    finally:
        main.kill_all()
        if trace:
            trace.kill_all()
    m["loadavg_end"] = os.getloadavg()
    m["interrupted"] = interrupted
    m["wall_s"] = round(time.monotonic() - t0, 1)

    results = []
    for p in main.parts:
        rows = main.rows[p.label]
        lows = wl.lows(o, rows[-1]["t"]) if rows else []
        fig = (soak_figures(rows, warmup, o.epoch, period_epochs, lows, o.period if wl.periodic else None)
               if rows else None)
        tp = next((q for q in trace.parts if q.label == p.label), None) if trace else None
        osf = os_summary(p, rows) or (os_summary(tp, trace.rows[tp.label]) if tp else None)
        problems = [(x.status, x.reason) for x in (p, tp) if x and not x.alive]
        results.append({"label": p.label, "alloc": p.alloc, "figures": fig, "os": osf, "problems": problems,
                        "ready_rss_kb": p.ready.get("rss_kb") if p.ready else None,
                        "exit_rss_kb": p.done.get("rss_kb") if p.done else None})
    doc = {"meta": m, "results": results, "workload": wl, "opts": o}
    text = render_soak(doc)
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write(text + "\n")
    if not o.no_plots:
        write_soak_plots(outdir, main.rows, [p.label for p in main.parts], wl.name)
    write_json(os.path.join(outdir, "soak.json"),
               {"meta": m, "results": [{k: v for k, v in r.items() if k != "alloc"} for r in results]})
    if not quiet:
        print(text)
        files = [f for f in ("soak.csv", "soak_strace.csv", "report.md", "soak.json", "rss.png", "throughput.png")
                 if os.path.isfile(os.path.join(outdir, f))]
        print("results: %s (%s)" % (outdir, ", ".join(files)), file=sys.stderr)
    if interrupted:
        return 130, outdir
    bad = any(r["problems"] for r in results)
    return (1 if bad else 0), outdir


# --------------------------------------------------------------------------- CI smoke


def _read_csv(path):
    with open(path, newline="") as f:
        rd = csv.DictReader(f)
        return rd.fieldnames, list(rd)


def _check_outdir(check, tag, outdir, o, specs, code):
    """The checks of one finished soak: exit status, soak.csv, the proof, report.md, plots."""
    check("%s: exit status 0" % tag, code == 0, "exit status %s" % code)
    n = max(1, int(round(o.duration / o.epoch)))
    path = os.path.join(outdir, "soak.csv")
    if not check("%s: soak.csv written" % tag, os.path.isfile(path), path):
        return
    fields, rows = _read_csv(path)
    check("%s: soak.csv columns" % tag, fields == EPOCH_FIELDS, "got %s" % fields)
    expect = {s: ("hakmem" if s.startswith("hakmem") else s) for s in specs}
    for s, fam in expect.items():
        rs = [r for r in rows if r["allocator"] == s]
        check("%s: %s has %d rows, epochs 1..%d" % (tag, s, n, n),
              [int(r["epoch"]) for r in rs] == list(range(1, n + 1)), "epochs %s" % [r["epoch"] for r in rs])
        bad = [r for r in rs if r["proof"] != "ok" or r["detected"] != fam]
        check("%s: %s proven on every epoch (allocator=%s)" % (tag, s, fam), rs and not bad,
              "; ".join("epoch %s: %s detected=%s" % (r["epoch"], r["proof"], r["detected"]) for r in bad[:3]))
        why = []
        t_prev = 0.0
        for r in rs:
            ops, secs, rate = int(r["ops"]), float(r["seconds"]), float(r["ops_per_sec"])
            rss, live, peak, t = int(r["rss_kb"]), int(r["live_bytes"]), int(r["peak_rss_kb"]), float(r["t"])
            if ops <= 0 or not (0.5 * o.epoch <= secs <= 2 * o.epoch + 1):
                why.append("epoch %s: ops %d in %.3f s" % (r["epoch"], ops, secs))
            if abs(rate - ops / secs) > 0.01 * rate:
                why.append("epoch %s: ops_per_sec %g is not ops/seconds" % (r["epoch"], rate))
            if rss <= 0 or live <= 0 or rss * 1024 < 0.5 * live or peak < rss:
                why.append("epoch %s: rss %d KiB, peak %d KiB, live %d B" % (r["epoch"], rss, peak, live))
            if t <= t_prev:
                why.append("epoch %s: running time %.3f does not grow" % (r["epoch"], t))
            t_prev = t
            if o.workload == "varying":
                target = int(r["target_bytes"])
                if abs(live - target) > (2 << 20) + 0.02 * parse_size(o.peak):
                    why.append("epoch %s: live %d B far from the target %d B" % (r["epoch"], live, target))
        check("%s: %s numbers sane (ops, seconds, rate, RSS >= live/2, time grows%s)"
              % (tag, s, ", live follows the target" if o.workload == "varying" else ""), rs and not why,
              "; ".join(why[:3]))
        if fam == "hakmem":
            osr = [[int(r["os_" + c]) for c in OS_CALLS] for r in rs if r["os_source"] == "counters"]
            mono = all(all(b >= a for a, b in zip(x, y)) for x, y in zip(osr, osr[1:]))
            check("%s: %s OS calls from its counters on every epoch, never decreasing" % (tag, s),
                  len(osr) == len(rs) and mono, "%d of %d rows have counters" % (len(osr), len(rs)))
        elif o.os_calls == "strace" and shutil.which("strace"):
            tpath = os.path.join(outdir, "soak_strace.csv")
            trs = _read_csv(tpath)[1] if os.path.isfile(tpath) else []
            trs = [r for r in trs if r["allocator"] == s]
            ok = trs and all(r["os_source"] == "strace" and r["proof"] == "ok" and int(r["os_mmap"]) >= 0
                             for r in trs)
            check("%s: %s OS calls counted under strace (%d epochs, proven)" % (tag, s, len(trs)), ok,
                  "rows: %s" % [(r["os_source"], r["proof"]) for r in trs])
    rpath = os.path.join(outdir, "report.md")
    text = open(rpath).read() if os.path.isfile(rpath) else ""
    missing = [h for h in SOAK_SECTIONS + ("- Date: ", "CPU: ") if h not in text]
    missing += ["| %s " % s for s in specs if "| %s " % s not in text]
    check("%s: report.md has its sections, date, CPU and every allocator" % tag, text and not missing,
          "missing: %s" % missing)
    if o.workload == "varying":
        check("%s: report.md measures a cycle of the live set (give-back, lag)" % tag,
              "| %s | 1 |" % specs[0] in text, "no cycle row for %s" % specs[0])
    if shutil.which("gnuplot") and not o.no_plots:
        pngs = [p for p in ("rss.png", "throughput.png") if not (os.path.isfile(os.path.join(outdir, p))
                                                                   and os.path.getsize(os.path.join(outdir, p)) > 0)]
        check("%s: plots rss.png, throughput.png" % tag, not pngs, "missing %s" % pngs)


def smoke(o, ctx):
    """make soak-smoke: short soaks of both workloads with hakmem and glibc, each output
    checked, then an interrupted one; about 20 s. Prints 'soak-smoke: N passed, M failed'."""
    import argparse
    counts = [0, 0]

    def check(name, ok, detail=""):
        counts[0 if ok else 1] += 1
        print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + detail), flush=True)
        return ok

    root = os.path.abspath(o.out) if o.out else os.path.join(ctx.scratch, "soak-smoke")
    runs = [("varying", dict(workload="varying", allocators="hakmem:balanced,system", epoch=0.5, duration=3.0,
                             period=2.0, peak="16m", low=10, shape="sine", trace_duration=1.0)),
            ("random_mixed", dict(workload="random_mixed", allocators="hakmem,system", epoch=0.5, duration=1.5,
                                  ws=20000, trace_duration=0.5))]
    for tag, over in runs:
        so = argparse.Namespace(**vars(o))
        for k, v in over.items():
            setattr(so, k, v)
        so.warmup = so.epoch
        so.out = os.path.join(root, tag)
        t0 = time.monotonic()
        code, outdir = run_soak(so, ctx, quiet=True)
        print("     (%s soak: %.1f s, %s)" % (tag, time.monotonic() - t0, outdir), flush=True)
        _check_outdir(check, tag, outdir, so, so.allocators.split(","), code)

    # Ctrl-C: the report of the epochs done is still written, the exit status is 130.
    out = os.path.join(root, "interrupted")
    argv = [sys.executable, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "soak"),
            "--build", ctx.build, "--hakmem-lib", ctx.hakmem_lib, "--allocators", "system",
            "--workload", "random_mixed", "--ws", "1000", "--epoch", "0.25", "--duration", "60",
            "--os-calls", "none", "--no-plots", "--out", out]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    path = os.path.join(out, "soak.csv")
    while time.monotonic() < deadline and not (os.path.isfile(path) and len(open(path).readlines()) >= 3):
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    try:
        code = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        code = p.wait()
    text = open(os.path.join(out, "report.md")).read() if os.path.isfile(os.path.join(out, "report.md")) else ""
    check("Ctrl-C: exit status 130, report.md written and marked INTERRUPTED",
          code == 130 and "INTERRUPTED" in text and "## Summary" in text, "exit status %s, report %s" % (
              code, "written" if text else "missing"))
    print("soak-smoke: %d passed, %d failed" % tuple(counts))
    return 1 if counts[1] else 0
