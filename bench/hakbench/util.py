"""Paths, messages and run metadata shared by bench/run and bench/soak."""

import datetime
import hashlib
import os
import platform
import subprocess
import sys

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # bench/
REPO = os.path.dirname(BENCH)

_prog = "bench/run"


def set_prog(name):
    """The name messages start with ("bench/run", "hakmem soak")."""
    global _prog
    _prog = name


def die(msg, code=2):
    print(_prog + ": " + msg, file=sys.stderr)
    sys.exit(code)


def warn(msg):
    print(_prog + ": " + msg, file=sys.stderr)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_rev():
    try:
        r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        rev = r.stdout.strip() if r.returncode == 0 else "none"
        d = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
        return rev + ("+dirty" if d.stdout.strip() else "")
    except OSError:
        return "unknown"


def cpu_model():
    """lscpu's "Model name" (falls back to /proc/cpuinfo, then "unknown")."""
    try:
        r = subprocess.run(["lscpu"], capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
        for ln in r.stdout.splitlines():
            if ln.startswith("Model name:"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def host_meta():
    """What every results file records about the machine and the revision."""
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join([sys.argv[0]] + sys.argv[1:]), "git": git_rev(), "host": platform.node(),
            "kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()}


def make_outdir(out, suffix=""):
    """out, or results/<timestamp><suffix> (results/ is git-ignored)."""
    if out:
        d = os.path.abspath(out)
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        d = os.path.join(REPO, "results", stamp + suffix)
    os.makedirs(d, exist_ok=True)
    return d


def check_quiet():
    la = os.getloadavg()[0]
    n = os.cpu_count() or 1
    if la > 0.5:
        warn("load average is %.2f on %d CPUs: other work is running, numbers will be noisy" % (la, n))


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt()


def interrupt_on_signals():
    """Ctrl-C and SIGTERM both raise KeyboardInterrupt, so a command can write what it
    has before it stops (SIGINT even when the command was started with it ignored)."""
    import signal
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)
