"""hakbench — the pieces of hakmem's benchmark tools (python3 standard library only).

bench/run (the matrix, A/B, OS calls, callgrind, smoke) and bench/soak (hakmem
soak: long runs, one line per epoch) are thin command lines over these modules:

  util.py        paths, messages, run metadata (git revision, CPU model, sha256)
  allocators.py  allocator names (hakmem, hakmem:PROFILE, peers, paths), LD_PRELOAD
                 and the proof rule: every run proves which allocator served it
  workloads.py   the matrix workloads and their parameter sets
  process.py     running one workload process, its result line, strace wrapping
  stats.py       medians, confidence intervals, A/B verdicts, soak figures
  report.py      number formats, Markdown tables, CSV, gnuplot plots
  modes.py       bench/run's modes
  soak.py        bench/soak: one long-lived process per allocator, driven round-robin
                 epoch by epoch over a pipe; its CI smoke
"""
