"""A/B verdicts that hold on a noisy, shared machine (docs/BENCHMARKS.md, "A/B verdicts").

Pure functions and one small state machine; no processes here (modes.py runs the
workloads, bench/test_ab.py drives the same code with synthetic measurements).

The method, per workload:

- Runs are paired and alternate: A B | B A | A B | B A ... (pair i is A-then-B
  for even i, B-then-A for odd i). Each pair gives one log-ratio ln(B/A) of ops/s.
  The two runs of a pair are neighbours in time, so slow drift of the machine
  cancels, and the alternation cancels any first-run/second-run bias.
- The effect is the Hodges-Lehmann estimate of those log-ratios (the median of
  all pairwise averages, "Walsh averages"), with its exact 99% confidence
  interval from the Wilcoxon signed-rank distribution. Rank-based: one run hit
  by a burst of other work moves neither much.
- The noise floor is measured in the same runs: the schedule puts two runs of
  the SAME build next to each other at every pair boundary (A B B A A B ...:
  B|B, A|A, ...). Their log-ratios are what an A/A comparison on this machine,
  right now, looks like; the floor is the half-width of the same 99% interval
  computed over them.
- GO only if the whole interval of the effect lies above the floor (and above
  --min-effect); NO-GO only if it lies below minus the floor; NEUTRAL
  otherwise, with the reason. An effect that is significant but not clear of
  the floor is NEUTRAL: the machine's own A/A spread could produce it.
- Adaptive length: at least min_pairs pairs, then two more at a time until the
  verdict is GO or NO-GO, or the interval is narrower than the target effect,
  or max_pairs is reached.
"""

import functools
import math
import statistics
from fractions import Fraction

ALPHA = 0.01          # two-sided: 99% intervals (see "Why 99%" in docs/BENCHMARKS.md)
LEVEL = round(100 * (1 - ALPHA))
MIN_PAIRS = 10        # the floor needs >= 8 same-build neighbours (pairs - 1) for an exact 99% interval
MAX_PAIRS = 30
TARGET = 0.03         # stop when the interval is narrower than 3%
MIN_EFFECT = 0.01     # never call an effect below 1%, however precise


def pct(x):
    """A log-ratio as a percentage change: ln(B/A) -> (B/A - 1) * 100."""
    return (math.exp(x) - 1.0) * 100.0


def log1p_frac(f):
    """A fractional change (0.03 = 3%) as a log-ratio."""
    return math.log1p(f)


# --------------------------------------------------------------------------- Wilcoxon signed-rank


@functools.lru_cache(maxsize=None)
def signed_rank_counts(n):
    """counts[w] = number of subsets of {1..n} whose sum is w: the exact null
    distribution of the signed-rank statistic W+ (each count / 2**n)."""
    counts = [1]
    for i in range(1, n + 1):
        new = counts + [0] * i
        for s, c in enumerate(counts):
            new[s + i] += c
        counts = new
    return tuple(counts)


def wilcoxon_k(n, alpha=ALPHA):
    """The order k of the lower end of the exact (1-alpha) interval among the n(n+1)/2
    sorted Walsh averages: the interval is [W(k), W(M-k+1)]. k - 1 is the largest w
    with P(W+ <= w) <= alpha/2. None when n is too small for that (n < 6 at 95%,
    n < 8 at 99%)."""
    if n < 1:
        return None
    a = Fraction(alpha).limit_denominator(10 ** 6)
    counts = signed_rank_counts(n)
    total = 2 ** n
    cum, crit = 0, -1
    for w, c in enumerate(counts):
        cum += c
        if Fraction(cum, total) > a / 2:
            break
        crit = w
    return crit + 1 if crit >= 0 else None


def coverage(n, alpha=ALPHA):
    """The exact coverage of the interval wilcoxon_k gives (>= 1 - alpha), or None."""
    k = wilcoxon_k(n, alpha)
    if k is None:
        return None
    counts = signed_rank_counts(n)
    return 1.0 - 2.0 * sum(counts[:k]) / 2 ** n


def walsh_averages(xs):
    n = len(xs)
    return sorted((xs[i] + xs[j]) / 2.0 for i in range(n) for j in range(i, n))


def hodges_lehmann(xs, alpha=ALPHA):
    """(estimate, lo, hi): the Hodges-Lehmann estimate of the centre of xs and its
    exact Wilcoxon (1-alpha) interval; lo = hi = None when xs is too short."""
    if not xs:
        return None, None, None
    w = walsh_averages(xs)
    est = statistics.median(w)
    k = wilcoxon_k(len(xs), alpha)
    if k is None:
        return est, None, None
    return est, w[k - 1], w[len(w) - k]


def sign_count(xs):
    """(number > 0, number < 0)."""
    return sum(1 for x in xs if x > 0), sum(1 for x in xs if x < 0)


# --------------------------------------------------------------------------- the verdict

RULE = ("Per workload: runs alternate A B | B A | A B ..., one log-ratio ln(B/A) per pair. Effect = "
        "Hodges-Lehmann estimate of those ratios with its exact %d%% Wilcoxon interval. Noise floor = half-width "
        "of the same interval over the neighbouring runs of the SAME build (B|B, A|A at the pair boundaries): "
        "the A/A spread measured in this very run. GO if the whole interval lies above max(floor, min effect), "
        "NO-GO if it lies below minus that, else NEUTRAL (reason given)." % LEVEL)
OVERALL_RULE = "NO-GO if any workload is NO-GO; GO if at least one is GO and none is NO-GO"


def verdict(ab, aa, min_effect=MIN_EFFECT, alpha=ALPHA, b_name="B"):
    """The verdict on one workload.

    ab: log-ratios ln(B/A), one per pair; aa: log-ratios of neighbouring runs of the
    same build (ln(later/earlier)). min_effect: the smallest change ever called
    (a fraction, 0.01 = 1%). b_name: what the reason calls B. Returns a dict: verdict (GO, NO-GO, NEUTRAL), reason,
    n, n_aa, est, lo, hi (log-ratios; lo/hi None if too few pairs), floor (log),
    bar (the larger of floor and min effect, log), faster/slower (pairs where B
    was faster/slower), and the same figures in percent (est_pct, ...)."""
    n, n_aa = len(ab), len(aa)
    est, lo, hi = hodges_lehmann(ab, alpha)
    _, alo, ahi = hodges_lehmann(aa, alpha)
    floor = (ahi - alo) / 2.0 if alo is not None else None
    me = log1p_frac(min_effect)
    faster, slower = sign_count(ab)
    r = {"n": n, "n_aa": n_aa, "est": est, "lo": lo, "hi": hi, "floor": floor, "min_effect": me,
         "faster": faster, "slower": slower, "coverage": coverage(n, alpha)}
    r["bar"] = max(floor, me) if floor is not None else None
    for k in ("est", "lo", "hi"):
        r[k + "_pct"] = pct(r[k]) if r[k] is not None else None
    r["floor_pct"] = pct(floor) if floor is not None else None
    if lo is None or floor is None:
        m = wilcoxon_k_min(alpha)
        r["verdict"] = "NEUTRAL"
        r["reason"] = ("too few pairs (%d): a %d%% interval needs %d values, and the noise floor comes from the "
                       "pairs - 1 same-build neighbours: at least %d pairs" % (n, round(100 * (1 - alpha)), m, m + 1))
        return r
    bar = r["bar"]
    what = "noise floor +-%.2f%%" % pct(floor) if floor >= me else "minimum effect %.2f%%" % pct(me)
    ci = "%+.2f%% (%d%% CI %+.2f%%..%+.2f%%)" % (pct(est), round(100 * (1 - alpha)), pct(lo), pct(hi))
    if lo > bar:
        r["verdict"] = "GO"
        r["reason"] = "%s faster by %s: the whole interval is above the %s" % (b_name, ci, what)
    elif hi < -bar:
        r["verdict"] = "NO-GO"
        r["reason"] = "%s slower by %s: the whole interval is below minus the %s" % (b_name, ci, what)
    else:
        r["verdict"] = "NEUTRAL"
        if lo > 0 or hi < 0:
            r["reason"] = ("%s vs A %s excludes 0 but reaches into the %s: an A/A comparison on this machine "
                           "could show as much" % (b_name, ci, what))
        else:
            r["reason"] = "%s vs A %s includes 0 (%s)" % (b_name, ci, what)
    return r


def wilcoxon_k_min(alpha=ALPHA):
    """The fewest values for which an exact (1-alpha) interval exists (6 at 95%, 8 at 99%)."""
    n = 1
    while wilcoxon_k(n, alpha) is None:
        n += 1
    return n


def overall(verdicts):
    if "NO-GO" in verdicts:
        return "NO-GO"
    if "INVALID" in verdicts:
        return "INVALID"
    if "INCOMPLETE" in verdicts:
        return "INCOMPLETE"
    if "GO" in verdicts:
        return "GO"
    return "NEUTRAL"


def ir_opinion(ir_a, ir_b, threshold=0.005):
    """callgrind's opinion from instructions per op: (change in %, word). Instruction
    counts do not depend on the machine's load; within +-threshold they are 'same'."""
    if not ir_a or not ir_b:
        return None, "-"
    d = ir_b / ir_a - 1.0
    if d <= -threshold:
        return d * 100, "fewer"
    if d >= threshold:
        return d * 100, "more"
    return d * 100, "same"


# --------------------------------------------------------------------------- the adaptive schedule


class PairedAB:
    """The run schedule and the stopping rule of one workload's A/B.

    Use: while not done(): first, second = order(); measure both in that order;
    add(first_value, second_value). fixed=N runs exactly N pairs instead."""

    def __init__(self, min_pairs=MIN_PAIRS, max_pairs=MAX_PAIRS, target=TARGET, min_effect=MIN_EFFECT,
                 fixed=None, alpha=ALPHA, b_name="B"):
        if fixed is not None:
            min_pairs = max_pairs = fixed
        if max_pairs < min_pairs:
            max_pairs = min_pairs
        self.min_pairs, self.max_pairs, self.fixed = min_pairs, max_pairs, fixed
        self.target, self.min_effect, self.alpha, self.b_name = target, min_effect, alpha, b_name
        self.seq = []          # (label, value) in the order run
        self.stop_reason = None
        self._cache = (None, None)

    def order(self):
        return ("A", "B") if (len(self.seq) // 2) % 2 == 0 else ("B", "A")

    def add(self, first_value, second_value):
        first, second = self.order()
        self.seq.append((first, first_value))
        self.seq.append((second, second_value))

    @property
    def pairs(self):
        return len(self.seq) // 2

    def ab(self):
        """ln(B/A) per pair."""
        out = []
        for i in range(0, len(self.seq) - 1, 2):
            d = dict(self.seq[i:i + 2])
            out.append(math.log(d["B"] / d["A"]))
        return out

    def aa(self):
        """ln(later/earlier) of the same-build neighbours at each pair boundary."""
        out = []
        for i in range(1, len(self.seq) - 1, 2):
            (l1, v1), (l2, v2) = self.seq[i], self.seq[i + 1]
            assert l1 == l2, "the schedule must put the same build on both sides of a pair boundary"
            out.append(math.log(v2 / v1))
        return out

    def values(self, label):
        return [v for l, v in self.seq if l == label]

    def _verdict(self):
        if self._cache[0] != len(self.seq):
            self._cache = (len(self.seq), verdict(self.ab(), self.aa(), self.min_effect, self.alpha, self.b_name))
        return dict(self._cache[1])

    def result(self):
        r = self._verdict()
        r["stop"] = self.stop_reason
        return r

    def done(self):
        """True when no more pairs are needed; stop_reason says why."""
        n = self.pairs
        if n < self.min_pairs:
            return False
        r = self._verdict()
        if self.fixed is not None:
            self.stop_reason = "fixed number of pairs (%d)" % n
            return True
        if r["verdict"] in ("GO", "NO-GO"):
            self.stop_reason = "decided after %d pairs" % n
            return True
        if r["lo"] is not None and r["floor"] is not None:
            width = pct(r["hi"]) - pct(r["lo"])
            if width <= self.target * 100 and 2 * r["floor_pct"] <= self.target * 100:
                self.stop_reason = ("interval %.2f%% wide, narrower than the target %.2f%%, after %d pairs"
                                    % (width, self.target * 100, n))
                return True
        if n >= self.max_pairs:
            self.stop_reason = "max pairs (%d) reached" % n
            return True
        return False

    def needs_more(self):
        """Pairs to run before the next look: up to min_pairs, then 2 (keeps A-first and
        B-first pairs balanced)."""
        n = self.pairs
        if n < self.min_pairs:
            return self.min_pairs - n
        return min(2, self.max_pairs - n)
