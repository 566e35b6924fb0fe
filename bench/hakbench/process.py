"""Running workload processes: the result line, one run with its proof check,
progress on stderr, runs.csv, and strace wrapping for OS-call counts."""

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

from .allocators import check_proof, child_env, default_hakmem_lib
from .report import fmt_dur
from .util import die

OS_CALLS = ("mmap", "munmap", "madvise", "mremap")


def parse_kv(line):
    """'word k=v k=v ...' -> dict, numbers converted (int, else float, else string)."""
    d = {}
    for tok in line.split()[1:]:
        if "=" not in tok:
            continue
        k, v = tok.split("=", 1)
        try:
            d[k] = int(v)
        except ValueError:
            try:
                d[k] = float(v)
            except ValueError:
                d[k] = v
    return d


def parse_result(text):
    """The last 'result k=v ...' line of stdout, as a dict (numbers converted)."""
    line = None
    for ln in text.splitlines():
        if ln.startswith("result "):
            line = ln
    if line is None:
        return None, None
    return parse_kv(line), line


def run_process(argv, env, timeout, scratch):
    """Runs argv, returns (exit_code, stdout, stderr, maxrss_kb, wall_s, timed_out).

    os.wait4 gives the child's own rusage (ru_maxrss = its peak RSS in KiB)."""
    out_path = os.path.join(scratch, "stdout")
    err_path = os.path.join(scratch, "stderr")
    with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe)
        timed_out = False
        status, ru = None, None
        try:
            delay = 0.001
            while True:
                pid, st, r = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    status, ru = st, r
                    break
                if timeout and time.monotonic() - t0 > timeout:
                    timed_out = True
                    proc.kill()
                    _, status, ru = os.wait4(proc.pid, 0)
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        except BaseException:
            # Ctrl-C (the child got the SIGINT too) or anything else: never leave it behind.
            try:
                proc.kill()
            except OSError:
                pass
            try:
                os.wait4(proc.pid, 0)
            except ChildProcessError:
                pass
            proc.returncode = -9
            raise
        wall = time.monotonic() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped here: keep Popen from waiting again
    with open(out_path, "rb") as f:
        out = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        err = f.read().decode("utf-8", "replace")
    return code, out, err, ru.ru_maxrss if ru else None, wall, timed_out


# --------------------------------------------------------------------------- strace


def strace_wrapper(strace, out_path, alloc, summary=True):
    """A wrapper(argv, env) -> (argv, env) that runs the workload under strace, tracing
    mmap, munmap, madvise and mremap of every thread into out_path.

    The allocator's LD_PRELOAD and variables go to the workload only (strace -E), not
    to strace itself. summary: strace -c (a table at exit, parse_strace_summary);
    otherwise one line per call (StraceLog), with --seccomp-bpf so that only
    the traced calls stop the process."""
    def wrap(argv, env):
        env = dict(env)
        pre = ["-E", "LD_PRELOAD=" + env.pop("LD_PRELOAD")] if alloc.preload else []
        for k in list(alloc.env):
            pre += ["-E", "%s=%s" % (k, env.pop(k))]
        mode = ["-c"] if summary else ["--seccomp-bpf", "-qq", "-e", "signal=none"]
        return [strace, "-f"] + mode + ["-o", out_path, "-e", "trace=" + ",".join(OS_CALLS)] + pre + argv, env
    return wrap


def parse_strace_summary(path):
    counts = {c: 0 for c in OS_CALLS}
    with open(path) as f:
        for ln in f:
            fs = ln.split()
            if len(fs) >= 5 and fs[-1] in counts:
                try:
                    counts[fs[-1]] = int(fs[3])
                except ValueError:
                    pass
    return counts


class StraceLog:
    """Counts calls per name in a strace log of one line per call ("PID name(...) = ...")
    as it grows: update() reads the complete lines added since the last call and
    returns the counts so far. A call interrupted by another thread's
    ("<unfinished ...>", later "<... name resumed>") counts once."""

    def __init__(self, path):
        self.path, self.offset = path, 0
        self.counts = {c: 0 for c in OS_CALLS}

    def update(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return dict(self.counts)
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next update
        self.offset += end
        for ln in data[:end].decode("utf-8", "replace").splitlines():
            fs = ln.split(None, 1)
            rest = fs[1] if len(fs) == 2 and fs[0].isdigit() else ln
            name = rest.split("(", 1)[0].strip()
            if name in self.counts:
                self.counts[name] += 1
        return dict(self.counts)


# --------------------------------------------------------------------------- one run


class Run:
    """One finished (or failed) run."""

    def __init__(self, wl, alloc, k, status, reason, res, line, ru_maxrss, wall, stderr=""):
        self.wl, self.alloc, self.k = wl, alloc, k
        self.status, self.reason, self.res, self.line = status, reason, res or {}, line or ""
        self.wall, self.stderr = wall, stderr
        # Peak RSS: the workload's VmHWM. The child's ru_maxrss (from wait4) is kept for reference
        # only: Linux carries ru_maxrss across execve, so it is never below this runner's own RSS.
        self.ru_maxrss = ru_maxrss
        hwm = self.res.get("peak_rss_kb")
        self.maxrss = hwm if isinstance(hwm, int) and hwm > 0 else ru_maxrss

    @property
    def ok(self):
        return self.status == "ok"

    def metric(self):
        return self.res.get("ops_per_sec")

    def row(self):
        r = self.res
        return {"workload": self.wl.name, "allocator": self.alloc.label, "run": self.k, "status": self.status,
                "reason": self.reason or "", "ops": r.get("ops", ""), "seconds": r.get("seconds", ""),
                "ops_per_sec": r.get("ops_per_sec", ""), "peak_rss_kb": self.maxrss if self.maxrss else "",
                "ru_maxrss_kb": self.ru_maxrss if self.ru_maxrss else "", "wall_s": "%.3f" % self.wall,
                "detected": r.get("allocator", ""), "malloc_lib": r.get("malloc_lib", ""), "result": self.line}


RUN_FIELDS = ["workload", "allocator", "run", "status", "reason", "ops", "seconds", "ops_per_sec", "peak_rss_kb",
              "ru_maxrss_kb", "wall_s", "detected", "malloc_lib", "result"]


class Context:
    """Where the workloads and the hakmem library are, the extra environment, and a
    scratch directory (the caller removes it: shutil.rmtree(ctx.scratch))."""

    def __init__(self, build, hakmem_lib=None, env=()):
        self.build = os.path.abspath(build)
        self.bindir = os.path.join(self.build, "bench")
        self.hakmem_lib = default_hakmem_lib(self.build, hakmem_lib)
        self.extra_env = dict(e.split("=", 1) for e in env)
        self.scratch = tempfile.mkdtemp(prefix="hakmem-bench-")

    def binary(self, name):
        b = os.path.join(self.bindir, name)
        if not os.access(b, os.X_OK):
            die("%s not built (run 'make bench-build')" % b)
        return b


class Runner(Context):
    """Runs matrix workloads to completion, one process per run."""

    def __init__(self, opts, workloads_by_name):
        self.opts = opts
        self.params = {}
        for p in opts.param:
            if "=" not in p:
                die("--param wants WORKLOAD=ARGS, not '%s'" % p)
            k, v = p.split("=", 1)
            if k not in workloads_by_name:
                die("--param: unknown workload '%s' (one of: %s)" % (k, ", ".join(workloads_by_name)))
            self.params[k] = v.split()
        super().__init__(opts.build, opts.hakmem_lib, opts.env)  # last: makes the scratch directory

    def args_for(self, wl, kind):
        if kind != "zero" and wl.name in self.params:
            args = self.params[wl.name]
        else:
            args = {"default": wl.args, "quick": wl.quick, "cg": wl.cg, "zero": wl.zero}[kind]
        if self.opts.threads and wl.threads:
            args = wl.threads(args, self.opts.threads)
        return list(args)

    def run(self, wl, alloc, kind, k=1, wrapper=None, timeout=None):
        argv = [self.binary(wl.binary)] + self.args_for(wl, kind)
        env = child_env(alloc, self.extra_env)
        if wrapper:
            argv, env = wrapper(argv, env)
        code, out, err, maxrss, wall, timed_out = run_process(argv, env, timeout or self.opts.timeout, self.scratch)
        res, line = parse_result(out)
        tail = "\n".join(err.strip().splitlines()[-5:])
        if timed_out:
            return Run(wl, alloc, k, "FAILED", "timed out after %.0f s" % wall, res, line, maxrss, wall, tail)
        if code != 0:
            why = "exit status %d" % code if code > 0 else "killed by signal %d" % -code
            if tail:
                why += ": " + tail.splitlines()[-1]
            return Run(wl, alloc, k, "FAILED", why, res, line, maxrss, wall, tail)
        if res is None:
            return Run(wl, alloc, k, "FAILED", "no result line on stdout", res, line, maxrss, wall, tail)
        why = check_proof(res, alloc, wl.proof)
        if why:
            return Run(wl, alloc, k, "INVALID", why, res, line, maxrss, wall, tail)
        return Run(wl, alloc, k, "ok", None, res, line, maxrss, wall, tail)


class CsvLog:
    """A CSV file with one row per finished item, flushed as each completes."""

    def __init__(self, path, fields=RUN_FIELDS):
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=fields)
        self.w.writeheader()
        self.f.flush()

    def add(self, row):
        self.w.writerow(row.row() if hasattr(row, "row") else row)
        self.f.flush()

    def close(self):
        self.f.close()


class Progress:
    def __init__(self, total, est):
        self.total, self.done, self.t0, self.est = total, 0, time.monotonic(), est
        self.walls = {}
        self.tty = sys.stderr.isatty()

    def start(self, wl, alloc, k, n, remaining):
        """remaining: list of workloads of the runs not yet started (this one included)."""
        elapsed = time.monotonic() - self.t0
        left = 0.0
        for w in remaining:
            ws = self.walls.get(w.name)
            left += statistics.fmean(ws) if ws else self.est(w)
        msg = "[%*d/%d] %-14s %-16s run %d of %d   elapsed %s, ~%s left" % (
            len(str(self.total)), self.done + 1, self.total, wl.name, alloc.label, k, n, fmt_dur(elapsed),
            fmt_dur(left))
        print(msg, file=sys.stderr, flush=True)

    def finish(self, run):
        self.done += 1
        self.walls.setdefault(run.wl.name, []).append(run.wall)
        if not run.ok:
            print("    %s: %s" % (run.status, run.reason), file=sys.stderr, flush=True)
