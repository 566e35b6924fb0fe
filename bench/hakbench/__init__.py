"""hakbench — the pieces of hakmem's benchmark tools (python3 standard library only).

bench/run (the matrix, A/B and A/A, OS calls, callgrind, smoke) and bench/soak (hakmem
soak: long runs, one line per epoch) are thin command lines over these modules:

  util.py        paths, messages, run metadata (git revision, CPU model, sha256)
  allocators.py  allocator names (hakmem, hakmem:PROFILE, peers, paths), LD_PRELOAD
                 and the proof rule: every run proves which allocator served it
  workloads.py   the matrix workloads and their parameter sets
  process.py     running one workload process, its result line, strace wrapping
  stats.py       medians, confidence intervals, soak figures
  abtest.py      A/B and A/A verdicts: paired alternating runs, Hodges-Lehmann effect with
                 its exact Wilcoxon interval, the noise floor measured in the same runs,
                 the adaptive number of pairs (pure: bench/test_ab.py tests it)
  report.py      number formats, Markdown tables, CSV, gnuplot plots
  modes.py       bench/run's modes
  soak.py        bench/soak: one long-lived process per allocator, driven round-robin
                 epoch by epoch over a pipe; its CI smoke
"""
