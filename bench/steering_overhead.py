"""Cost of steering hooks: 64 greedy tokens with 2 add edits on 2 layers vs none (SmolLM2, CPU, one pane).

Prints `steered/unsteered tokens-per-second ratio: X` (target ≥ 0.97). Runs alternate between the two
conditions so that drifting machine load hits both alike. Run: .venv/bin/python bench/steering_overhead.py [repeats]
"""

from __future__ import annotations

import statistics
import sys
import time

from _common import GREEDY_64, PROMPT, engine_with_saes

from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant


def main(repeats: int = 7) -> None:
    engine = engine_with_saes()
    steered = SteeringPlan(
        (
            Variant(
                "steered",
                (
                    FeatureEdit(layer=8, feature=3, strength=4.0),
                    FeatureEdit(layer=15, feature=9, strength=4.0),
                ),
            ),
        )
    )
    plain = SteeringPlan()
    rates: dict[str, list[float]] = {"plain": [], "steered": []}
    for plan in (plain, steered):  # warm-up
        engine.generate(PROMPT, plan, GREEDY_64).run()
    for _ in range(repeats):
        for name, plan in (("plain", plain), ("steered", steered)):
            start = time.perf_counter()
            result = engine.generate(PROMPT, plan, GREEDY_64).run()
            rates[name].append(len(result.panes[0].token_ids) / (time.perf_counter() - start))
    plain_rate, steered_rate = statistics.median(rates["plain"]), statistics.median(rates["steered"])
    print(f"unsteered: median {plain_rate:.2f} tokens/s {[round(r, 2) for r in rates['plain']]}")
    print(f"steered:   median {steered_rate:.2f} tokens/s {[round(r, 2) for r in rates['steered']]}")
    print(f"steered/unsteered tokens-per-second ratio: {steered_rate / plain_rate:.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
