"""Output: number formats, Markdown tables, the matrix report, CSV/JSON files and
gnuplot plots (a generated plot.gp next to the CSV it reads; rendered when gnuplot
is installed, otherwise left to render later)."""

import csv
import json
import math
import os
import shutil
import subprocess
import sys

from .stats import overlap
from .util import warn

# --------------------------------------------------------------------------- formats


def fmt_rate(x):
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "-"
    for div, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= div:
            return "%.3g%s" % (x / div, unit)
    return "%.3g" % x


def fmt_kb(kb):
    if kb is None:
        return "-"
    if kb >= 1024 * 1024:
        return "%.2f GiB" % (kb / 1048576.0)
    if kb >= 1024:
        return "%.1f MiB" % (kb / 1024.0)
    return "%d KiB" % kb


def fmt_dur(s):
    s = int(max(0, s))
    if s >= 3600:
        return "%dh%02dm%02ds" % (s // 3600, s % 3600 // 60, s % 60)
    if s >= 60:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%ds" % s


def md_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def _num(x):
    if x is None or (isinstance(x, float) and (math.isinf(x) or math.isnan(x))):
        return ""
    return x


# --------------------------------------------------------------------------- the matrix


def ratio_text(c):
    if c.get("ratio") is None:
        return "-"
    if c["allocator"] == c["baseline"]:
        return "1 (baseline)"
    pct = (c["ratio"] - 1) * 100
    word = "faster" if pct >= 0 else "SLOWER" if c.get("is_hakmem") else "slower"
    s = "%.2fx %s: %.1f%% %s" % (c["ratio"], c["baseline"], abs(pct), word)
    if c["overlap"]:
        s += " (within noise)"
    return s


def render_matrix(cells, workloads, allocs, kind, runs_per_cell, interrupted=False):
    lines = []
    lines.append("## Benchmark matrix (%s parameters, %d runs per cell%s)" % (
        kind, runs_per_cell, ", INTERRUPTED: partial" if interrupted else ""))
    lines.append("")
    lines.append("Throughput in operations per second (higher is better; ops = allocator calls, prodcons: frees). "
                 "CI = 95% confidence interval of the mean (t-distribution). Peak RSS = median of the workload's "
                 "VmHWM. Ratio = mean / baseline's mean.")
    lines.append("")
    headers = ["workload", "allocator", "valid/runs", "median ops/s", "mean ops/s", "95% CI", "stdev", "CV",
               "peak RSS", "ratio to baseline"]
    rows = []
    for w in workloads:
        for a in allocs:
            c = cells.get((w.name, a.label))
            if not c:
                continue
            st = c["stats"]
            valid = "%d/%d" % (c["valid"], c["runs"])
            if c["invalid"]:
                valid += " (%d INVALID)" % c["invalid"]
            if c["failed"]:
                valid += " (%d FAILED)" % c["failed"]
            if st:
                ci = "%s..%s" % (fmt_rate(st["ci_lo"]), fmt_rate(st["ci_hi"])) if st["n"] > 1 else "-"
                rows.append([w.name, a.label, valid, fmt_rate(st["median"]), fmt_rate(st["mean"]), ci,
                             fmt_rate(st["stdev"]), "%.1f%%" % (st["cv"] * 100), fmt_kb(c["peak_rss_kb"]),
                             ratio_text(c)])
            else:
                rows.append([w.name, a.label, valid, "-", "-", "-", "-", "-", "-", "no valid run"])
    lines.append(md_table(headers, rows))

    # Plain statements about hakmem against every peer.
    hk = [a for a in allocs if a.expect == "hakmem"]
    peers = [a for a in allocs if a.expect != "hakmem"]
    if hk and peers:
        lines.append("")
        lines.append("### hakmem against the others")
        lines.append("")
        for w in workloads:
            for h in hk:
                ch = cells.get((w.name, h.label))
                if not ch or not ch["stats"]:
                    continue
                slower, faster = [], []
                for p in peers:
                    cp = cells.get((w.name, p.label))
                    if not cp or not cp["stats"]:
                        continue
                    pct = (ch["stats"]["mean"] / cp["stats"]["mean"] - 1) * 100
                    noise = " (within noise)" if overlap(ch["stats"], cp["stats"]) else ""
                    if pct < 0:
                        slower.append("%s by %.1f%%%s" % (p.label, -pct, noise))
                    else:
                        faster.append("%s by %.1f%%%s" % (p.label, pct, noise))
                parts = []
                if slower:
                    parts.append("**%s is SLOWER than %s**" % (h.label, ", ".join(slower)))
                if faster:
                    parts.append("%s is faster than %s" % (h.label, ", ".join(faster)))
                lines.append("- %s: %s." % (w.name, "; ".join(parts)))
        lines.append("")

    extra_ws = [w for w in workloads if w.extra]
    for w in extra_ws:
        present = [a for a in allocs if cells.get((w.name, a.label)) and cells[(w.name, a.label)]["extra"]]
        if not present:
            continue
        lines.append("")
        lines.append("### %s: medians of %s" % (w.name, ", ".join(w.extra)))
        lines.append("")
        rows = []
        for a in present:
            ex = cells[(w.name, a.label)]["extra"]
            rows.append([a.label] + [fmt_kb(ex.get(k)) if k.endswith("_kb") else ("%g" % ex[k] if k in ex else "-")
                                     for k in w.extra])
        lines.append(md_table(["allocator"] + list(w.extra), rows))

    bad = [(k, c) for k, c in cells.items() if c["reasons"]]
    if bad:
        lines.append("")
        lines.append("### Runs left out")
        lines.append("")
        for (wn, al), c in bad:
            for r in c["reasons"]:
                lines.append("- %s / %s: %s" % (wn, al, r))
    return "\n".join(lines)


def write_summary_files(outdir, cells, workloads, allocs, runs, m):
    with open(os.path.join(outdir, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["workload", "allocator", "runs", "valid", "median_ops_per_sec", "mean_ops_per_sec", "stdev",
                    "cv", "ci95_lo", "ci95_hi", "peak_rss_kb", "baseline", "ratio_to_baseline",
                    "rss_ratio_to_baseline"] + ["median_" + k for wl in workloads for k in wl.extra])
        extra_keys = [k for wl in workloads for k in wl.extra]
        for wl in workloads:
            for a in allocs:
                c = cells.get((wl.name, a.label))
                if not c:
                    continue
                st = c["stats"] or {}
                w.writerow([wl.name, a.label, c["runs"], c["valid"], st.get("median", ""), st.get("mean", ""),
                            st.get("stdev", ""), st.get("cv", ""), _num(st.get("ci_lo")), _num(st.get("ci_hi")),
                            c["peak_rss_kb"] or "", c.get("baseline") or "",
                            c["ratio"] if c.get("ratio") is not None else "",
                            c["rss_ratio"] if c.get("rss_ratio") is not None else ""]
                           + [c["extra"].get(k, "") for k in extra_keys])
    doc = {"meta": m, "summary": [c for c in cells.values()],
           "runs": [dict(r.row(), fields=r.res) for r in runs]}
    for c in doc["summary"]:
        st = c.get("stats")
        if st and math.isinf(st["ci_lo"]):
            st["ci_lo"] = st["ci_hi"] = None
    write_json(os.path.join(outdir, "results.json"), doc)


def write_json(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)


# --------------------------------------------------------------------------- gnuplot


def gp_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_gnuplot(outdir, script, pngs, name="plot.gp"):
    """Writes outdir/name and runs gnuplot on it there. Returns True if the PNGs were
    made; without gnuplot it says so and leaves the script to be run later."""
    with open(os.path.join(outdir, name), "w") as f:
        f.write("\n".join(script) + "\n")
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        warn("gnuplot is not installed: plots skipped (bench/install-peers installs it; %s/%s is ready)"
             % (outdir, name))
        return False
    r = subprocess.run([gnuplot, name], cwd=outdir, capture_output=True, text=True)
    if r.returncode != 0:
        warn("gnuplot failed: %s" % r.stderr.strip()[-500:])
        return False
    print("plots: %s" % ", ".join(os.path.join(outdir, p) for p in pngs), file=sys.stderr)
    return True


def write_plots(outdir, cells, workloads, allocs):
    """CSV for gnuplot + a generated plot.gp; renders PNGs if gnuplot is installed."""
    wls = [w for w in workloads if any(cells.get((w.name, a.label), {}).get("stats") for a in allocs)]
    if not wls:
        return
    path = os.path.join(outdir, "plot_data.csv")
    with open(path, "w", newline="") as f:
        cw = csv.writer(f)
        cw.writerow(["wi", "workload", "ai", "allocator", "mean_mops", "ci_mops", "peak_rss_mib", "ratio"])
        for wi, w in enumerate(wls):
            for ai, a in enumerate(allocs):
                c = cells.get((w.name, a.label))
                if not c or not c["stats"]:
                    continue
                st = c["stats"]
                ci = (st["ci_hi"] - st["mean"]) / 1e6 if st["n"] > 1 else 0
                cw.writerow([wi, w.name, ai, a.label, st["mean"] / 1e6, ci,
                             (c["peak_rss_kb"] or 0) / 1024.0, c["ratio"] if c.get("ratio") is not None else ""])
    rel = os.path.join(outdir, "plot_ratio.csv")
    with open(rel, "w", newline="") as f:
        cw = csv.writer(f)
        cw.writerow(["workload"] + [a.label for a in allocs])
        for w in wls:
            row = [w.name]
            for a in allocs:
                c = cells.get((w.name, a.label))
                row.append(c["ratio"] if c and c.get("ratio") is not None else "")
            cw.writerow(row)
    na = len(allocs)
    cols = 3 if len(wls) > 4 else len(wls)
    rows_ = (len(wls) + cols - 1) // cols
    xt = ", ".join("%s %d" % (gp_quote(a.label), i) for i, a in enumerate(allocs))
    base = next((c.get("baseline") for c in cells.values() if c.get("baseline")), "baseline")
    gp = []
    gp.append("# generated by bench/run; re-render with: cd %s && gnuplot plot.gp" % outdir)
    gp.append("set datafile separator ','")
    gp.append("set termoption noenhanced")
    gp.append("set style fill solid 0.8 border -1")
    gp.append("set boxwidth 0.7")
    gp.append("set grid ytics")
    gp.append("set xtics (%s) rotate by -30 font ',8'" % xt)
    gp.append("set xrange [-0.6:%g]" % (na - 0.4))
    gp.append("set yrange [0:*]")
    gp.append("unset key")
    for out, col, ylabel, title in (("throughput.png", 5, "M ops/s (mean, 95% CI)", "throughput"),
                                    ("rss.png", 7, "peak RSS (MiB, median)", "peak RSS")):
        gp.append("set terminal pngcairo noenhanced size %d,%d font ',9'" % (480 * cols, 360 * rows_))
        gp.append("set output %s" % gp_quote(out))
        gp.append("set multiplot layout %d,%d title %s" % (rows_, cols, gp_quote("hakmem bench: " + title)))
        gp.append("set ylabel %s" % gp_quote(ylabel))
        for wi, w in enumerate(wls):
            gp.append("set title %s" % gp_quote(w.name))
            sel = "($1==%d ? $3 : 1/0):($1==%d ? $%d : 1/0)" % (wi, wi, col)
            pl = "plot 'plot_data.csv' every ::1 using %s:($3+1) with boxes lc variable" % sel
            if col == 5:
                pl += ", '' every ::1 using %s:6 with yerrorbars lc rgb 'black' pt -1" % sel
            gp.append(pl)
        gp.append("unset multiplot")
    gp.append("set terminal pngcairo noenhanced size %d,480 font ',9'" % min(1600, max(800, 40 * len(wls) * na)))
    gp.append("set output 'ratio.png'")
    gp.append("set title %s" % gp_quote("throughput relative to %s (higher is better)" % base))
    gp.append("set ylabel 'mean ops/s / %s'" % base)
    gp.append("set key outside right top autotitle columnhead")
    gp.append("set style data histograms")
    gp.append("set style histogram cluster gap 1")
    gp.append("set xtics auto rotate by -30 font ',8'")
    gp.append("set xrange [*:*]")
    gp.append("set boxwidth 0.9")
    gp.append("plot for [i=2:%d] 'plot_ratio.csv' using i:xtic(1), 1 with lines lc rgb 'gray' dt 2 notitle" % (na + 1))
    render_gnuplot(outdir, gp, ("throughput.png", "rss.png", "ratio.png"))


# --------------------------------------------------------------------------- the soak

SOAK_SECTIONS = ("## Summary", "## RSS and the live set", "## OS calls", "## How it was measured")


def _pct(x, signed=False):
    if x is None:
        return "-"
    return ("%+.1f%%" if signed else "%.1f%%") % x


def _x(x):
    return "-" if x is None else "%.2f" % x


def _give_back(f):
    """Mean give-back over the cycles, and the worst lag, e.g. "91%, 10 s"."""
    if not f["cycles"]:
        return "no full cycle"
    gb = _pct(f["give_back"] * 100 if f["give_back"] is not None else None)
    return "%s, %s" % (gb, "%.0f s" % f["lag"] if f["lag"] is not None else "-")


def render_soak(doc):
    """report.md of a soak (also printed at the end). doc: meta, results (per allocator:
    label, figures from stats.soak_figures, os, problems, ready/exit RSS), workload, opts."""
    m, results, wl, o = doc["meta"], doc["results"], doc["workload"], doc["opts"]
    L = []
    L.append("# hakmem soak: %s%s" % (wl.name, " (INTERRUPTED: partial)" if m.get("interrupted") else ""))
    L.append("")
    L.append("- Date: %s; CPU: %s (%s cores); kernel %s; hakmem at git %s" % (
        m["date"], m["cpu_model"], m["cpus"], m["kernel"], m["git"]))
    L.append("- Command: `%s`" % m["command"])
    L.append("- Workload: %s (`soak_workload %s`)" % (m["workload_desc"], " ".join(m["workload_argv"])))
    L.append("- Epochs: %d of %g s per allocator (%s of each allocator's running time; warm-up: the first %d), "
             "round-robin, one process computing at a time; whole run %s of wall-clock time" % (
                 m["epochs"], m["epoch_s"], fmt_dur(m["duration_s"]), m["warmup_epochs"], fmt_dur(m["wall_s"])))
    la0, la1 = m["loadavg_start"], m.get("loadavg_end") or (None,)
    L.append("- Load average (1 min) at start %.2f, at end %s" % (la0[0], "%.2f" % la1[0] if la1[0] is not None
                                                                     else "-"))
    for lab, a in m["allocators"].items():
        env = " ".join("%s=%s" % kv for kv in sorted(a["env"].items()))
        L.append("- `%s`: %s%s%s" % (lab, a["preload"] or "no preload (glibc malloc)", " " + env if env else "",
                                     " (sha256 %s)" % a["sha256"][:16] if a["sha256"] else ""))
    for s, why in m.get("missing_allocators") or []:
        L.append("- `%s` left out: %s" % (s, why))

    L.append("")
    L.append("## Summary")
    L.append("")
    L.append("Epoch throughput pXX reads like a latency percentile: XX%% of the epochs were at least this fast "
             "(p50 = median). CV = stdev / mean of the epoch throughputs. RSS drift = median RSS of the last "
             "10%% of the epochs against the first 10%% after the warm-up%s. OS calls = mmap + munmap + madvise "
             "+ mremap per operation. RSS / live = resident set / bytes the workload holds. Give-back and lag: "
             "how far and how fast RSS came down after the live set's low points (next section). Epochs after "
             "the warm-up only, except OS calls (all epochs)." % (
                 ", at the same phase of the load cycle" if wl.periodic else ""))
    L.append("")
    hdr = ["allocator", "epochs", "p50 ops/s", "p99", "p99.9", "CV", "RSS drift", "OS calls/op",
           "RSS/live mean", "at live low", "max", "give-back, worst lag", "peak RSS", "slow-CPU epochs"]
    rows = []
    for r in results:
        f, osf = r["figures"], r["os"]
        status = "" if not r["problems"] else " (%s)" % r["problems"][0][0]
        if not f:
            rows.append([r["label"] + status, "0"] + ["-"] * (len(hdr) - 2))
            continue
        d = f["drift"]
        drift = "%s (%s -> %s)" % (_pct(d["pct"], True), fmt_kb(d["first_kb"]), fmt_kb(d["last_kb"])) if d else "-"
        osc = "%.3g (%s)" % (osf["per_op"], osf["source"]) if osf and osf["per_op"] is not None else "-"
        rows.append([r["label"] + status, "%d" % f["epochs"], fmt_rate(f["p50"]), fmt_rate(f["p99"]),
                     fmt_rate(f["p99_9"]), _pct(f["cv"] * 100 if f["cv"] is not None else None), drift, osc,
                     _x(f["rss_live_mean"]), _x(f["rss_live_at_low"]) if wl.periodic else "-",
                     _x(f["rss_live_max"]), _give_back(f) if wl.periodic else "-", fmt_kb(f["peak_rss_kb"]),
                     "%d" % f["disturbed"]])
    L.append(md_table(hdr, rows))
    n_ep = max((r["figures"]["epochs"] for r in results if r["figures"]), default=0)
    if n_ep and n_ep - m["warmup_epochs"] < 1000:
        L.append("")
        L.append("With %d epochs after the warm-up, p99 and p99.9 are interpolated between the slowest epochs "
                 "(p99.9 needs 1000 epochs to be more than the slowest one)." % (n_ep - m["warmup_epochs"]))

    L.append("")
    L.append("## RSS and the live set")
    L.append("")
    rows = []
    for r in results:
        rows.append([r["label"], fmt_kb(r["ready_rss_kb"]),
                     fmt_kb(r["figures"]["peak_rss_kb"]) if r["figures"] else "-", fmt_kb(r["exit_rss_kb"])])
    L.append("RSS at start-up (before the workload allocated), the peak (VmHWM), and after the workload freed "
             "every block at the end:")
    L.append("")
    L.append(md_table(["allocator", "RSS at start", "peak RSS", "RSS after freeing all"], rows))
    if wl.periodic:
        L.append("")
        L.append("After each low point of the live set (cycle window: half a period either side): give-back = "
                 "(RSS before the drop - lowest RSS) / (live before the drop - lowest live), the share of the "
                 "freed bytes returned to the OS; lag = from the live set's low point until RSS has come within "
                 "10%% of its drop (resolution: one epoch, %g s; '-' when RSS fell by less than 5%% of the live "
                 "set's drop). Cycles that end after the soak are not counted." % m["epoch_s"])
        L.append("")
        rows = []
        for r in results:
            f = r["figures"]
            if not f:
                continue
            for c in f["cycles"]:
                rows.append([r["label"], c["cycle"], "%.0f s" % c["t_low"],
                             "%s -> %s" % (fmt_kb(c["live_hi"] // 1024), fmt_kb(c["live_lo"] // 1024)),
                             "%s -> %s" % (fmt_kb(c["rss_hi"] // 1024), fmt_kb(c["rss_lo"] // 1024)),
                             _pct(c["give_back"] * 100 if c["give_back"] is not None else None),
                             "%.0f s" % c["lag"] if c["lag"] is not None else "-",
                             _x(c["rss_per_live_at_low"])])
        if rows:
            L.append(md_table(["allocator", "cycle", "live low at", "live", "RSS", "give-back", "lag",
                               "RSS/live at low"], rows))
        else:
            L.append("No complete cycle: the soak is shorter than one period and a half of the load "
                     "(--period %g s)." % o.period)

    L.append("")
    L.append("## OS calls")
    L.append("")
    L.append("Calls made while the workload ran (start-up's excluded). counters = hakmem's own os_* counters, "
             "read every epoch of the measured run (free of cost); strace = a separate run of the first %d "
             "epochs of the same workload under `strace -f --seccomp-bpf` (only these four calls stop the "
             "process), whose throughput is not used. glibc also grows and trims its main heap with brk, "
             "which is not counted here." % m["trace_epochs"])
    L.append("")
    rows = []
    for r in results:
        osf = r["os"]
        if not osf:
            rows.append([r["label"], "not measured" if m["os_calls"] != "strace" or r["alloc"].expect == "hakmem"
                         else "no strace run", "-", "-", "-", "-", "-", "-", "-", "-"])
            continue
        rows.append([r["label"], osf["source"], "%d" % osf["epochs"], "%d" % osf["ops"]]
                    + ["%d" % osf[c] for c in ("mmap", "munmap", "madvise", "mremap")]
                    + ["%.3g" % osf["per_op"] if osf["per_op"] is not None else "-",
                       "%.3g" % osf["per_s"] if osf["per_s"] is not None else "-"])
    L.append(md_table(["allocator", "source", "epochs", "ops", "mmap", "munmap", "madvise", "mremap",
                       "calls/op", "calls/s"], rows))

    probs = [(r["label"], s, why) for r in results for s, why in r["problems"]]
    if probs:
        L.append("")
        L.append("## Problems")
        L.append("")
        for lab, s, why in probs:
            L.append("- %s: %s: %s" % (lab, s, why))

    L.append("")
    L.append("## Plots")
    L.append("")
    L.append("![RSS and live set](rss.png)")
    L.append("")
    L.append("![throughput per epoch](throughput.png)")
    L.append("")
    L.append("## How it was measured")
    L.append("")
    L.append("One `build/bench/soak_workload` process per allocator (preloaded as by `bench/run`), started "
             "together and driven over a pipe, one epoch at a time in turn: while one runs its epoch the "
             "others wait, blocked, holding their heap, so each epoch has the CPU to itself and the allocators "
             "see the same machine. Time on the x axis and in `t` is each allocator's own running time. A "
             "waiting process is idle for (allocators - 1) epochs between two of its epochs; an allocator "
             "that gives memory back on a timer sees that idle time. Every epoch line carries the allocator "
             "proof and is refused if it does not show the allocator asked for. slow-CPU epochs: epochs in "
             "which the process got less than 90% of a CPU (another program ran); their throughput is "
             "kept. Details: docs/SOAK.md.")
    return "\n".join(L)


def write_soak_plots(outdir, rows_by_label, labels, title):
    """rss.png (RSS and live set; RSS / live) and throughput.png, from soak_plot.dat."""
    labels = [lab for lab in labels if rows_by_label.get(lab)]
    if not labels:
        return
    with open(os.path.join(outdir, "soak_plot.dat"), "w") as f:
        for lab in labels:
            f.write("# %s: t rss_mib live_mib rss_per_live mops\n" % lab)
            for r in rows_by_label[lab]:
                ratio = r["rss_kb"] * 1024 / r["live_bytes"] if r["live_bytes"] else 0
                f.write("%g %g %g %g %g\n" % (r["t"], r["rss_kb"] / 1024.0, r["live_bytes"] / 1048576.0, ratio,
                                              r["ops_per_sec"] / 1e6))
            f.write("\n\n")
    names = " ".join(lab.replace(" ", "_") for lab in labels)
    last = len(labels) - 1
    gp = ["# generated by bench/soak; re-render with: cd %s && gnuplot soak.gp" % outdir,
          "set termoption noenhanced",
          "names = %s" % gp_quote(names),
          "set grid",
          "set key outside right top",
          "set xlabel 'running time of each allocator (s)'",
          "set xrange [0:*]",
          "set terminal pngcairo noenhanced size 1200,900 font ',9'",
          "set output 'rss.png'",
          "set multiplot layout 2,1 title %s" % gp_quote("hakmem soak: %s, RSS and the live set" % title),
          "set ylabel 'MiB'",
          "set yrange [0:*]",
          "plot for [i=0:%d] 'soak_plot.dat' index i using 1:2 with linespoints pt 7 ps 0.5 title word(names, i+1), "
          "'soak_plot.dat' index 0 using 1:3 with lines dt 2 lw 2 lc rgb 'black' title 'live set'" % last,
          "set ylabel 'RSS / live'",
          "plot for [i=0:%d] 'soak_plot.dat' index i using 1:4 with linespoints pt 7 ps 0.5 title word(names, i+1)"
          % last,
          "unset multiplot",
          "set terminal pngcairo noenhanced size 1200,500 font ',9'",
          "set output 'throughput.png'",
          "set title %s" % gp_quote("hakmem soak: %s, throughput per epoch (higher is better)" % title),
          "set ylabel 'M ops/s'",
          "set y2label 'live set (MiB)'",
          "set y2tics",
          "set y2range [0:*]",
          "plot for [i=0:%d] 'soak_plot.dat' index i using 1:5 with linespoints pt 7 ps 0.5 title word(names, i+1), "
          "'soak_plot.dat' index 0 using 1:3 axes x1y2 with lines dt 2 lc rgb 'gray' title 'live set'" % last]
    render_gnuplot(outdir, gp, ("rss.png", "throughput.png"), name="soak.gp")
