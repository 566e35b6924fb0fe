#!/usr/bin/env python3
"""Unit test of the A/B verdict (bench/hakbench/abtest.py) on synthetic data: the
exact Wilcoxon critical values, the Hodges-Lehmann interval, the run schedule, and
the verdict and stopping rule driven through the same PairedAB state machine that
bench/run --ab uses, by a simulated noisy machine (seeded: deterministic).

  python3 bench/test_ab.py               (make bench-selftest runs it; a few seconds)
  python3 bench/test_ab.py --calibrate N [--alpha A]
      the larger simulation docs/BENCHMARKS.md quotes ("Why 99%"): N A/As per noise
      model and N/5 A/Bs per effect; false verdicts, power and pairs used (minutes)
"""

import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hakbench import abtest  # noqa: E402
from hakbench.abtest import PairedAB, hodges_lehmann, verdict, wilcoxon_k  # noqa: E402


class Machine:
    """ops/s of one run on a simulated shared machine: log-normal noise of sigma per run,
    a slow sinusoidal drift, bursts of other work (runs in a row 40% slower), rare
    outliers, a first/second-run bias inside a pair, and B's true effect."""

    def __init__(self, seed, sigma, effect=0.0, drift=0.0, burst_p=0.0, outlier_p=0.0, second_bias=0.0,
                 bimodal_p=0.0):
        self.rng = random.Random(seed)
        self.sigma, self.effect, self.drift = sigma, effect, drift
        self.burst_p, self.outlier_p, self.second_bias = burst_p, outlier_p, second_bias
        self.bimodal_p = bimodal_p  # runs that are 10x faster (prodcons with glibc is bimodal)
        self.t, self.burst = 0, 0

    def run(self, label, second):
        self.t += 1
        v = 1e8 * math.exp(self.rng.gauss(0.0, self.sigma)) * (1.0 + self.drift * math.sin(self.t / 9.0))
        if self.burst:
            self.burst -= 1
        elif self.rng.random() < self.burst_p:
            self.burst = self.rng.randint(1, 12)
        if self.burst:
            v *= 0.6
        if self.rng.random() < self.outlier_p:
            v *= self.rng.uniform(0.2, 0.8)
        if self.bimodal_p and self.rng.random() < self.bimodal_p:
            v *= 10.0
        if second:
            v *= 1.0 + self.second_bias
        if label == "B":
            v *= 1.0 + self.effect
        return v


def simulate(machine, **kw):
    """One adaptive A/B on the simulated machine, exactly as modes.cmd_ab drives it."""
    ab = PairedAB(**kw)
    while not ab.done():
        for _ in range(ab.needs_more()):
            first, second = ab.order()
            ab.add(machine.run(first, False), machine.run(second, True))
    return ab.result()


class WilcoxonTest(unittest.TestCase):
    def test_critical_values_match_published_tables(self):
        # k - 1 = the two-sided critical value T of the signed-rank test
        for n, t in ((6, 0), (7, 2), (10, 8), (20, 52), (30, 137)):
            self.assertEqual(wilcoxon_k(n, 0.05), t + 1, n)
        for n, t in ((8, 0), (10, 3), (20, 37), (30, 109)):
            self.assertEqual(wilcoxon_k(n, 0.01), t + 1, n)
        self.assertIsNone(wilcoxon_k(5, 0.05))
        self.assertIsNone(wilcoxon_k(7, 0.01))
        self.assertEqual(abtest.wilcoxon_k_min(0.01), 8)

    def test_coverage_is_at_least_the_level(self):
        for n in range(8, 40):
            c = abtest.coverage(n, 0.01)
            self.assertGreaterEqual(c, 0.99)
            self.assertLess(c, 0.999 if n > 12 else 1.0)

    def test_hodges_lehmann(self):
        xs = [float(i) for i in range(1, 11)]
        est, lo, hi = hodges_lehmann(xs, 0.05)
        self.assertEqual(est, 5.5)
        # the 9th smallest and 9th largest of the 55 Walsh averages
        w = sorted((xs[i] + xs[j]) / 2 for i in range(10) for j in range(i, 10))
        self.assertEqual((lo, hi), (w[8], w[-9]))
        self.assertEqual((lo, hi), (3.0, 8.0))
        # translation equivariance, and robustness: one wild value barely moves it
        est2, lo2, hi2 = hodges_lehmann([x + 100 for x in xs], 0.05)
        self.assertEqual((est2, lo2, hi2), (105.5, 103.0, 108.0))
        est3, _, _ = hodges_lehmann(xs[:-1] + [1e6], 0.05)
        self.assertLess(abs(est3 - est), 1.0)


class ScheduleTest(unittest.TestCase):
    def test_alternation_and_neighbours(self):
        ab = PairedAB(min_pairs=4, max_pairs=4)
        orders = []
        vals = {"A": 100.0, "B": 110.0}
        while not ab.done():
            for _ in range(ab.needs_more()):
                o = ab.order()
                orders.append(o)
                ab.add(vals[o[0]], vals[o[1]])
        self.assertEqual(orders, [("A", "B"), ("B", "A"), ("A", "B"), ("B", "A")])
        self.assertEqual([lab for lab, _ in ab.seq], list("ABBAABBA"))
        self.assertTrue(all(abs(x - math.log(1.1)) < 1e-12 for x in ab.ab()))   # ln(B/A), whatever the order
        self.assertEqual(ab.aa(), [0.0, 0.0, 0.0])                                # B|B, A|A, B|B
        self.assertEqual(ab.pairs, 4)


class VerdictTest(unittest.TestCase):
    def test_identical_builds_are_always_neutral(self):
        """A/A: a build against itself, on machines from quiet to very noisy, with drift,
        bursts of other work, outliers and a position bias: never GO or NO-GO."""
        models = [dict(sigma=0.01), dict(sigma=0.05, drift=0.2, second_bias=0.03),
                  dict(sigma=0.15, burst_p=0.05, outlier_p=0.05), dict(sigma=0.3, burst_p=0.1)]
        for mi, model in enumerate(models):
            for seed in range(150):
                r = simulate(Machine(1000 * mi + seed, **model), max_pairs=20)
                self.assertEqual(r["verdict"], "NEUTRAL", (model, seed, r["reason"]))

    def test_a_clear_20_percent_shift_is_called(self):
        for seed in range(30):
            for effect, want in ((0.20, "GO"), (-0.20, "NO-GO")):
                r = simulate(Machine(seed, sigma=0.05, drift=0.1, effect=effect))
                self.assertEqual(r["verdict"], want, (seed, r["reason"]))
                self.assertLess(abs(r["est_pct"] - effect * 100), 6.0)
                self.assertTrue(r["stop"].startswith("decided after"))
                self.assertLessEqual(r["n"], 16)

    def test_a_shift_below_the_noise_floor_is_neutral(self):
        """3% on a machine whose A/A spread is far wider: NEUTRAL, and the reason names the floor."""
        for seed in range(40):
            r = simulate(Machine(seed, sigma=0.15, effect=0.03, burst_p=0.03), max_pairs=20)
            self.assertEqual(r["verdict"], "NEUTRAL", (seed, r["reason"]))
            self.assertIn("noise floor", r["reason"])
            self.assertGreater(r["floor_pct"], 3.0)

    def test_significant_but_inside_the_floor(self):
        # B is +2% in every pair (the interval excludes 0), but same-build neighbours differ by +-6%
        ab = [math.log(1.02) + 0.002 * ((i % 5) - 2) for i in range(12)]
        aa = [0.06 * (1 if i % 2 else -1) * (1 + 0.1 * i) for i in range(11)]
        r = verdict(ab, aa)
        self.assertGreater(r["lo"], 0)
        self.assertEqual(r["verdict"], "NEUTRAL")
        self.assertIn("excludes 0 but reaches into the noise floor", r["reason"])
        # the same effect on a quiet machine is called
        r = verdict(ab, [x / 100 for x in aa])
        self.assertEqual(r["verdict"], "GO")
        self.assertIn("above the minimum effect 1.00%", r["reason"])

    def test_a_precise_tiny_change_is_not_called(self):
        ab = [math.log(1.005) + 0.0001 * ((i % 3) - 1) for i in range(12)]
        aa = [0.0001 * ((i % 3) - 1) for i in range(11)]
        r = verdict(ab, aa)
        self.assertGreater(r["lo"], 0)
        self.assertEqual(r["verdict"], "NEUTRAL")
        self.assertIn("minimum effect", r["reason"])

    def test_too_few_pairs(self):
        r = verdict([0.5] * 8, [0.0] * 7)
        self.assertEqual(r["verdict"], "NEUTRAL")
        self.assertIn("too few pairs (8)", r["reason"])

    def test_stopping(self):
        quiet = simulate(Machine(1, sigma=0.002))
        self.assertEqual(quiet["n"], abtest.MIN_PAIRS)
        self.assertIn("narrower than the target", quiet["stop"])
        noisy = simulate(Machine(2, sigma=0.2), max_pairs=16)
        self.assertEqual(noisy["n"], 16)
        self.assertIn("max pairs (16) reached", noisy["stop"])
        fixed = simulate(Machine(3, sigma=0.2), fixed=5)
        self.assertEqual(fixed["n"], 5)
        self.assertEqual(fixed["verdict"], "NEUTRAL")

    def test_overall(self):
        self.assertEqual(abtest.overall(["NEUTRAL", "GO", "NO-GO"]), "NO-GO")
        self.assertEqual(abtest.overall(["NEUTRAL", "GO", "INVALID"]), "INVALID")
        self.assertEqual(abtest.overall(["NEUTRAL", "GO"]), "GO")
        self.assertEqual(abtest.overall(["NEUTRAL", "NEUTRAL"]), "NEUTRAL")

    def test_instruction_opinion(self):
        self.assertEqual(abtest.ir_opinion(100.0, 100.2)[1], "same")
        self.assertEqual(abtest.ir_opinion(100.0, 90.0)[1], "fewer")
        self.assertEqual(abtest.ir_opinion(100.0, 110.0)[1], "more")
        self.assertEqual(abtest.ir_opinion(None, 1.0), (None, "-"))


CAL_AA = [("noise 15%, bursts 5%", dict(sigma=0.15, burst_p=0.05)),
          ("noise 2%, bursts 5%, bimodal 20%", dict(sigma=0.02, burst_p=0.05, bimodal_p=0.2)),
          ("noise 30%, bursts 5%", dict(sigma=0.3, burst_p=0.05)),
          ("noise 5%, drift 20%, 2nd-run bias 3%, outliers 5%", dict(sigma=0.05, drift=0.2, second_bias=0.03,
                                                                     outlier_p=0.05))]
CAL_AB = [("+20%, noise 5%", dict(sigma=0.05, effect=0.2)),
          ("+20%, noise 12%, bursts 5%", dict(sigma=0.12, effect=0.2, burst_p=0.05)),
          ("-20%, noise 8%", dict(sigma=0.08, effect=-0.2)),
          ("+10%, noise 5%", dict(sigma=0.05, effect=0.1)),
          ("+5%, noise 2%", dict(sigma=0.02, effect=0.05)),
          ("+2%, noise 15%", dict(sigma=0.15, effect=0.02))]


def calibrate(n, alpha):
    """Prints, per model, the verdicts of n simulated A/As (n // 5 A/Bs) with the default
    schedule at the given alpha, and the mean number of pairs used."""
    from collections import Counter
    print("alpha %g, pairs %d..%d, target %g%%, min effect %g%%" % (alpha, abtest.MIN_PAIRS, abtest.MAX_PAIRS,
                                                                    abtest.TARGET * 100, abtest.MIN_EFFECT * 100))
    for kind, models, runs in (("A/A", CAL_AA, n), ("A/B", CAL_AB, max(1, n // 5))):
        for name, model in models:
            c, pairs = Counter(), 0
            for seed in range(runs):
                r = simulate(Machine(seed, **model), alpha=alpha)
                c[r["verdict"]] += 1
                pairs += r["n"]
            print("%s %-50s %s  mean pairs %.1f" % (kind, name, " ".join("%s %d" % kv for kv in sorted(c.items())),
                                                     pairs / runs), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--calibrate":
        calibrate(int(sys.argv[2]) if len(sys.argv) > 2 else 1000,
                  float(sys.argv[sys.argv.index("--alpha") + 1]) if "--alpha" in sys.argv else abtest.ALPHA)
    else:
        unittest.main(verbosity=1)
