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
