"""Statistics: descriptive figures with a 95% confidence interval, the matrix
summary, and the soak figures (percentiles, drift, how RSS follows the live
set). The A/B and A/A verdicts are in abtest.py."""

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


# --------------------------------------------------------------------------- soak figures


def percentile(values, pct):
    """The pct-th percentile of values, linear between order statistics (None if empty)."""
    v = sorted(values)
    if not v:
        return None
    pos = pct / 100.0 * (len(v) - 1)
    i = int(math.floor(pos))
    if i + 1 >= len(v):
        return v[-1]
    return v[i] + (v[i + 1] - v[i]) * (pos - i)


def tail_rate(values, q):
    """Epoch throughput "pq" read like a latency percentile, the bad tail: the rate that
    q% of the epochs reached or exceeded (the (100-q)th percentile). q=50 is the median."""
    return percentile(values, 100.0 - q)


def drift_windows(n, warmup, period_epochs=None):
    """(first, last) index ranges of the RSS drift, or None if the soak is too short.

    Of the epochs after the warm-up, W = max(1, round(10%)) form each window: the first
    W, and the last W. For a periodic load the last window is moved back to the latest
    position at the same phase of the cycle as the first (a whole number of periods
    later), so the two compare like with like; the windows never overlap."""
    m = n - warmup
    if m < 2:
        return None
    w = max(1, int(round(0.1 * m)))
    first = (warmup, warmup + w)
    if period_epochs:
        k = (n - w - warmup) // period_epochs
        if k < 1:
            return None
        start = warmup + k * period_epochs
    else:
        start = n - w
        if start < first[1]:
            return None
    return first, (start, start + w)


def soak_cycles(rows, lows, period, epoch):
    """How RSS follows the live set down, per cycle of a periodic load.

    rows: the epochs of one allocator (dicts with t, rss_kb, live_bytes), t at the end of
    each epoch; lows: the times of the live set's low points. Around a low point t_low,
    "before" is the half period up to it (the peak included) and "after" the half period
    from it; a cycle counts only when its "after" ended within the soak. Times match
    within a quarter epoch. live_hi / rss_hi = the largest live set / RSS before,
    live_lo / rss_lo = the smallest after; give_back = (rss_hi - rss_lo) /
    (live_hi - live_lo): the share of the freed bytes that went back to the OS (above
    100% when the allocator also returned memory it held beyond the live set); lag = from
    t_low until the end of the first epoch after it whose RSS has come within 10% of its
    drop (rss <= rss_lo + 0.1 (rss_hi - rss_lo)), at least 0, None when RSS fell by less
    than 5% of the live set's drop (nothing came back to measure)."""
    out = []
    tol = 0.25 * epoch
    t_end = rows[-1]["t"] if rows else 0
    for c, tl in enumerate(lows, 1):
        if tl + period / 2 > t_end + tol:
            break
        before = [r for r in rows if tl - period / 2 - tol <= r["t"] <= tl + tol]
        after = [r for r in rows if tl - tol <= r["t"] <= tl + period / 2 + tol]
        if not before or not after:
            continue
        rss_hi = max(r["rss_kb"] for r in before) * 1024
        live_hi = max(r["live_bytes"] for r in before)
        rss_lo = min(r["rss_kb"] for r in after) * 1024
        low_row = min(after, key=lambda r: r["live_bytes"])
        live_lo = low_row["live_bytes"]
        drop_live = live_hi - live_lo
        drop_rss = rss_hi - rss_lo
        give_back = drop_rss / drop_live if drop_live > 0 else None
        lag = None
        if drop_live > 0 and drop_rss >= 0.05 * drop_live:
            reach = next(r for r in after if r["rss_kb"] * 1024 <= rss_lo + 0.1 * drop_rss)
            lag = max(0.0, reach["t"] - tl)
        out.append({"cycle": c, "t_low": tl, "live_hi": live_hi, "live_lo": live_lo, "rss_hi": rss_hi,
                    "rss_lo": rss_lo, "give_back": give_back, "lag": lag,
                    "rss_per_live_at_low": low_row["rss_kb"] * 1024 / live_lo if live_lo else None})
    return out


def soak_figures(rows, warmup, epoch, period_epochs=None, lows=(), period=None):
    """The report's figures for one allocator's epochs (main pass, in order).

    warmup: epochs left out of the steady-state figures (throughput, drift, RSS/live);
    epoch: seconds per epoch; period_epochs, lows, period: for a periodic load (see
    drift_windows, soak_cycles)."""
    n = len(rows)
    steady = rows[warmup:]
    f = {"epochs": n, "warmup": warmup}
    rates = [r["ops_per_sec"] for r in steady]
    d = describe(rates)
    f["rate"] = d
    f["p50"] = tail_rate(rates, 50)
    f["p99"] = tail_rate(rates, 99)
    f["p99_9"] = tail_rate(rates, 99.9)
    f["cv"] = d["cv"] if d and d["n"] > 1 else None
    win = drift_windows(n, warmup, period_epochs)
    if win:
        (a0, a1), (b0, b1) = win
        first = statistics.median(r["rss_kb"] for r in rows[a0:a1])
        last = statistics.median(r["rss_kb"] for r in rows[b0:b1])
        f["drift"] = {"first_kb": first, "last_kb": last, "pct": (last / first - 1) * 100 if first else None,
                      "first": (a0 + 1, a1), "last": (b0 + 1, b1)}
    else:
        f["drift"] = None
    ratios = [r["rss_kb"] * 1024 / r["live_bytes"] for r in steady if r["live_bytes"] > 0]
    f["rss_live_mean"] = statistics.fmean(ratios) if ratios else None
    f["rss_live_max"] = max(ratios) if ratios else None
    f["peak_rss_kb"] = max(r["peak_rss_kb"] for r in rows) if rows else None
    f["cycles"] = soak_cycles(rows, lows, period, epoch) if (period and rows) else []
    at_low = [c["rss_per_live_at_low"] for c in f["cycles"] if c["rss_per_live_at_low"]]
    f["rss_live_at_low"] = statistics.fmean(at_low) if at_low else None
    gb = [c["give_back"] for c in f["cycles"] if c["give_back"] is not None]
    f["give_back"] = statistics.fmean(gb) if gb else None
    lags = [c["lag"] for c in f["cycles"] if c["lag"] is not None]
    f["lag"] = max(lags) if lags else None
    f["lag_n"] = (len(lags), len(f["cycles"]))
    f["disturbed"] = sum(1 for r in rows if r.get("cpu_share") is not None and r["cpu_share"] < 0.9)
    return f
