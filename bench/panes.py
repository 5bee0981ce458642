"""Baseline + 3 steered variants in ONE batch vs the baseline alone, same settings (SmolLM2, CPU, 64 greedy).

Prints `4 panes / 1 pane wall-time ratio: X` (target ≤ 1.3) from runs that alternate 1 pane, 4 panes, 1 pane, …
so that a shared machine's changing load hits both alike, with the load average before and after; repeat when the
load is above the core count. Run: .venv/bin/python bench/panes.py [repeats]

What set the ratio (torch.profiler over 32 greedy tokens with one torch thread, so that time slices lost to other
processes do not hide in OpenMP barriers; AMD EPYC, 2 cores, MKL 2024.2, oneDNN 3.12, load average 11-15): self
time of 1 pane 6.8 s, 4 panes 11.3 s (1.66x). Of the 4.5 s extra, the block linears (aten::mm, MKL's small GEMM,
whose code on AMD is slow enough to set the time: workbench/models/cpu_layout.py) took 1.3 s, the packed logits
head (mkl::_mkl_linear) 1.7 s against the single row's matrix-vector product, and growing the key/value cache
(aten::cat of the transposed new keys onto the whole cache, every step) 1.2 s. After the fix (oneDNN for 2+
rows, a column-major unembedding, an in-place cache: cpu_layout.py, packed_head.py, kv_cache.py) the same
profile reads 5.1 s vs 6.1 s (1.20x). With torch's default 2 threads on a 2-core machine that other processes
load, every parallel region waits for a descheduled thread: at load 8-12 this script read 8.8 before the fix and
2.8 after; run it with OMP_NUM_THREADS=1 there, or on a quiet machine.

On an AVX2-only EPYC (Zen 3, family 25 model 1; the fix above was measured on one with AVX-512) the ratio was
1.82 again: the same profile (32 tokens, 1 thread) read 2.69 s vs 8.07 s, 7.1 s of it oneDNN's products of 4 rows
through the plain weights against 1.9 s of MKL's for one row. With the weights packed into oneDNN's blocked layout
for 2+ rows (cpu_layout._packed), 2 threads: products 1.91 s vs 2.44 s (1.28x), whole runs 1.38-1.48 (over the
1.3 target there). cProfile of 64 tokens there then: the products 4.41 s of 6.39 s for 4 panes (3.02 of 4.24 for
one), and 0.3 s of Python around them (cpu_linear's checks and packed-copy look-up, the op packet's dispatch), which
the lean step now skips by preparing each block's packed weights once per run (lean_decode._products). Left: the
4-row products themselves (oneDNN's AVX2 brgemm reads q|k|v and gate|up at about half the bandwidth MKL's
one-row product gets; the 576-wide and the unembedding's products cost about the same for 4 rows as for one),
the 4-row prompt (0.42 vs 0.18 s) and attention (0.30 vs 0.16 s). With that, 7 alternating runs read 1.36
(pairs 1.22-1.40) on a machine whose runs of the same work spread by ±10 %.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from _common import GREEDY_64, PROMPT, engine_with_saes, machine_line

from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])


def main(repeats: int = 5) -> None:
    print(machine_line(), flush=True)
    engine = engine_with_saes()
    variants = [
        Variant(
            f"v{k}",
            (
                FeatureEdit(layer=8, feature=k, strength=6.0),
                FeatureEdit(layer=15, feature=k + 7, strength=6.0),
            ),
        )
        for k in range(3)
    ]
    plans = {"1 pane": SteeringPlan(), "4 panes": SteeringPlan.with_baseline(*variants)}
    for plan in plans.values():  # warm-up: first-call allocations, lazy imports, oneDNN's kernel generation
        engine.generate(PROMPT, plan, GREEDY_64).run()
    times: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(repeats):
        for name, plan in plans.items():
            start = time.perf_counter()
            engine.generate(PROMPT, plan, GREEDY_64).run()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"{name}: median {medians[name]:.3f} s over {repeats} runs {[round(x, 3) for x in t]}")
    print(f"1 pane: {GREEDY_64.max_new_tokens / medians['1 pane']:.2f} tokens/s (prompt included)")
    print(f"load average after: {load_average()}")
    print(f"4 panes / 1 pane wall-time ratio: {medians['4 panes'] / medians['1 pane']:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
