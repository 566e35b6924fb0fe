"""Statistics: descriptive figures with a 95% confidence interval, the A/B
verdict rule, the matrix summary, and the soak figures (percentiles, drift,
how RSS follows the live set)."""

import math
import statistics

# Two-sided 95% critical values of Student's t by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
       18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
       26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t95(df):
    if df in T95:
        return T95[df]
    if df > 120:
        return 1.960
    return T95[max(k for k in T95 if k < df)]  # the next smaller df: a slightly wider interval


def describe(values):
    n = len(values)
    if n == 0:
        return None
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if n > 1 else 0.0
    half = t95(n - 1) * sd / math.sqrt(n) if n > 1 else float("inf")
    return {"n": n, "mean": mean, "median": statistics.median(values), "stdev": sd,
            "cv": sd / mean if mean else 0.0, "ci_lo": mean - half, "ci_hi": mean + half,
            "min": min(values), "max": max(values)}


def overlap(a, b):
    return not (a["ci_hi"] < b["ci_lo"] or b["ci_hi"] < a["ci_lo"])


# --------------------------------------------------------------------------- A/B

AB_RULE = ("Rule: GO if B's mean ops/s >= A's mean +0.5% and the 95% CIs do not overlap; NO-GO if <= -0.5% "
           "and they do not overlap; else NEUTRAL.")
AB_OVERALL_RULE = "NO-GO if any workload is NO-GO; GO if at least one is GO and none is NO-GO"


def ab_verdict(sa, sb):
    """(verdict, B-vs-A difference in %) for two describe() results."""
    diff = (sb["mean"] / sa["mean"] - 1) * 100
    ov = overlap(sa, sb)
    if diff >= 0.5 and not ov:
        return "GO", diff
    if diff <= -0.5 and not ov:
        return "NO-GO", diff
    return "NEUTRAL", diff


def ab_overall(verdicts):
    if "NO-GO" in verdicts:
        return "NO-GO"
    if "INVALID" in verdicts:
        return "INVALID"
    if "GO" in verdicts:
        return "GO"
    return "NEUTRAL"


# --------------------------------------------------------------------------- the matrix


def summarise(runs, workloads, allocs):
    """Per (workload, allocator): statistics of ops/s over valid runs, peak RSS, ratio to the baseline."""
    cells = {}
    for w in workloads:
        for a in allocs:
            rs = [r for r in runs if r.wl is w and r.alloc is a]
            if not rs:
                continue
            good = [r for r in rs if r.ok]
            st = describe([r.metric() for r in good]) if good else None
            rss = [r.maxrss for r in good if r.maxrss]
            cell = {"workload": w.name, "allocator": a.label, "is_hakmem": a.expect == "hakmem",
                    "runs": len(rs), "valid": len(good),
                    "failed": sum(1 for r in rs if r.status == "FAILED"),
                    "invalid": sum(1 for r in rs if r.status == "INVALID"),
                    "reasons": sorted({r.reason for r in rs if not r.ok}),
                    "stats": st, "peak_rss_kb": int(statistics.median(rss)) if rss else None,
                    "extra": {}}
            for key in w.extra:
                vals = [r.res[key] for r in good if isinstance(r.res.get(key), (int, float))]
                if vals:
                    cell["extra"][key] = statistics.median(vals)
            cells[(w.name, a.label)] = cell
    # The baseline: mimalloc when it has valid runs for the workload, else system.
    for w in workloads:
        base = None
        for cand in ("mimalloc", "system"):
            c = cells.get((w.name, cand))
            if c and c["stats"]:
                base = c
                break
        for a in allocs:
            c = cells.get((w.name, a.label))
            if not c:
                continue
            c["baseline"] = base["allocator"] if base else None
            if base and c["stats"]:
                c["ratio"] = c["stats"]["mean"] / base["stats"]["mean"]
                c["rss_ratio"] = (c["peak_rss_kb"] / base["peak_rss_kb"]
                                  if c["peak_rss_kb"] and base["peak_rss_kb"] else None)
                c["overlap"] = overlap(c["stats"], base["stats"])
            else:
                c["ratio"] = c["rss_ratio"] = c["overlap"] = None
    return cells
