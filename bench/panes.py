"""Baseline + 3 steered variants in ONE batch vs the baseline alone, same settings (SmolLM2, CPU, 64 greedy).

Prints `4 panes / 1 pane wall-time ratio: X` (target ≤ 1.5). Run: .venv/bin/python bench/panes.py [repeats]
"""

from __future__ import annotations

import sys

from _common import GREEDY_64, PROMPT, engine_with_saes, median_seconds

from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant


def main(repeats: int = 5) -> None:
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
    four = SteeringPlan.with_baseline(*variants)
    one = SteeringPlan()
    t1, all1 = median_seconds(lambda: engine.generate(PROMPT, one, GREEDY_64).run(), repeats)
    t4, all4 = median_seconds(lambda: engine.generate(PROMPT, four, GREEDY_64).run(), repeats)
    print(f"1 pane: median {t1:.3f} s over {repeats} runs {[round(t, 3) for t in all1]}")
    print(f"4 panes: median {t4:.3f} s over {repeats} runs {[round(t, 3) for t in all4]}")
    print(f"4 panes / 1 pane wall-time ratio: {t4 / t1:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
