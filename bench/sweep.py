"""The magnitude recipe on the demo "ocean · water" feature (L15 f852): 5 strengths × 4 prompts × 1 seed × 32
tokens (20 steered rows and 4 baselines), batched (rows of one prompt in one batch) vs the same rows one at a time.

Prints `sweep batched/sequential wall-time ratio: X` for generation (target ≤ 0.35 on a 2-core CPU; the
measurement passes and drift are the same work in both and are printed apart) and the rows per second.
Run: .venv/bin/python bench/sweep.py
"""

from __future__ import annotations

import dataclasses

from _common import engine_with_saes, machine_line

from workbench.steering.plan import SteeringPlan
from workbench.sweeps.recipes import build_spec
from workbench.sweeps.runner import run_sweep
from workbench.sweeps.spec import SweepTarget


def main() -> None:
    print(machine_line())
    engine = engine_with_saes((15,))
    spec = build_spec((SweepTarget("L15", 852),), "magnitude", strengths=(-10.0, -2.0, 0.0, 2.0, 10.0))
    spec = dataclasses.replace(spec, prompts=spec.prompts[:4], seeds=(0,), max_new_tokens=32)
    engine.generate("warm up", SteeringPlan(), spec.row_settings(0)).run()  # lazy imports, first allocations
    batched = run_sweep(engine, spec)
    sequential = run_sweep(engine, spec, batch_size=1)
    rows = len(batched.rows) + len(batched.baseline)
    same = [r.token_ids for r in batched.rows] == [r.token_ids for r in sequential.rows]
    for name, result in (("batched", batched), ("sequential", sequential)):
        t = result.timing
        print(
            f"{name:>10}: generate {t['generate_s']:.2f} s, measure {t['measure_s']:.2f} s, drift {t['drift_s']:.2f} s,"
            f" wall {t['wall_s']:.2f} s; {rows / t['generate_s']:.2f} rows/s generated,"
            f" {rows / t['wall_s']:.2f} rows/s overall"
        )
    ratio = batched.timing["generate_s"] / sequential.timing["generate_s"]
    overall = batched.timing["wall_s"] / sequential.timing["wall_s"]
    print(f"rows: {len(batched.rows)} steered + {len(batched.baseline)} baselines; identical tokens: {same}")
    print(f"sweep batched/sequential wall-time ratio: {ratio:.3f}")
    print(f"whole sweep (with metrics and drift) batched/sequential: {overall:.3f}")
    print(machine_line())


if __name__ == "__main__":
    main()
