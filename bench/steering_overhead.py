"""Cost of steering hooks: 64 greedy tokens with 2 add edits on 2 layers, and with 2 clamp edits on 2 layers (an
SAE encode at every new position), vs none (SmolLM2 with the demo SAEs at layers 8 and 15, CPU, one pane).

Prints `steered/unsteered tokens-per-second ratio: X` (add; target ≥ 0.97) and
`steered (clamp)/unsteered ratio: X` (target ≥ 0.90). Runs alternate plain, add, clamp, plain, … so that
drifting machine load hits all three alike; medians, with the load average before and after.
Run: .venv/bin/python bench/steering_overhead.py [repeats]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from _common import GREEDY_64, PROMPT, engine_with_saes, machine_line

from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, Variant


def two_edits(mode: EditMode, strength: float) -> SteeringPlan:
    edits = (
        FeatureEdit(layer=8, feature=3, strength=strength, mode=mode),
        FeatureEdit(layer=15, feature=9, strength=strength, mode=mode),
    )
    return SteeringPlan((Variant(mode.value, edits),))


def main(repeats: int = 7) -> None:
    print(machine_line(), flush=True)
    engine = engine_with_saes()
    plans = {"plain": SteeringPlan(), "add": two_edits(EditMode.ADD, 4.0), "clamp": two_edits(EditMode.CLAMP, 4.0)}
    rates: dict[str, list[float]] = {name: [] for name in plans}
    for plan in plans.values():  # warm-up
        engine.generate(PROMPT, plan, GREEDY_64).run()
    for _ in range(repeats):
        for name, plan in plans.items():
            start = time.perf_counter()
            result = engine.generate(PROMPT, plan, GREEDY_64).run()
            rates[name].append(len(result.panes[0].token_ids) / (time.perf_counter() - start))
    median = {name: statistics.median(r) for name, r in rates.items()}
    for name in plans:
        print(f"{name:6s} median {median[name]:.2f} tokens/s {[round(r, 2) for r in rates[name]]}")
    print(f"load average after: {' '.join(Path('/proc/loadavg').read_text(encoding='utf-8').split()[:3])}")
    print(f"steered/unsteered tokens-per-second ratio: {median['add'] / median['plain']:.3f}")
    print(f"steered (clamp)/unsteered ratio: {median['clamp'] / median['plain']:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
