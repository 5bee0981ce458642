"""The magnitude recipe on the demo "ocean · water" feature (L15 f852): 5 strengths × 4 prompts × 1 seed × 32
tokens (20 steered rows and 4 baselines), batched (rows of one prompt in one batch) vs the same rows one at a time.

Prints `sweep batched/sequential wall-time ratio: X` for generation (target ≤ 0.35 on a 2-core CPU; the
measurement passes and drift are printed apart) and the rows per second. Then the measurement pass alone: the
batched run's rows read by the unsteered model one forward per prompt (`measure_rows`) vs one forward per row
(`measure_row`, what every row cost before), with the largest difference in NLL and concept between the two.
Run: .venv/bin/python bench/sweep.py [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from _common import engine_with_saes, machine_line

from workbench.engine import Engine
from workbench.steering.plan import SteeringPlan
from workbench.sweeps.measure import ConceptProbe, measure_row, measure_rows
from workbench.sweeps.recipes import build_spec
from workbench.sweeps.records import SweepResult
from workbench.sweeps.runner import run_sweep
from workbench.sweeps.spec import SweepTarget


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(machine_line())
    engine = engine_with_saes((15,))
    spec = build_spec((SweepTarget("L15", 3877),), "magnitude", strengths=(-10.0, -2.0, 0.0, 2.0, 10.0))
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
    measure_pass(engine, batched)
    print(machine_line())


def measure_pass(engine: Engine, result: SweepResult) -> None:
    """The measurement pass over the same rows: batched per prompt vs one row at a time."""
    backend = engine.backend
    probe = ConceptProbe(result.targets[0].name, engine.sae("L15"), 3877, result.targets[0].max_activation or 1.0)
    groups: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for row in (*result.baseline, *result.rows):
        groups.setdefault(row.prompt_ids, []).append(row.token_ids)
    rows = sum(len(g) for g in groups.values())
    started = time.perf_counter()
    batched = [m for p, g in groups.items() for m in measure_rows(backend, p, [(t, [probe]) for t in g])]
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    alone = [measure_row(backend, p, t, [probe]) for p, g in groups.items() for t in g]
    alone_s = time.perf_counter() - started
    nll = max(abs((a.nll or 0.0) - (b.nll or 0.0)) for a, b in zip(batched, alone, strict=True))
    name = probe.name
    concept = max(abs(a.concept[name] - b.concept[name]) for a, b in zip(batched, alone, strict=True))
    print(
        f"measure {rows} rows: one forward per prompt {batched_s:.2f} s ({batched_s / rows:.3f} s/row),"
        f" one per row {alone_s:.2f} s ({alone_s / rows:.3f} s/row); largest difference NLL {nll:.1e},"
        f" concept {concept:.1e}"
    )
    print(f"measure batched/one-row-at-a-time ratio: {batched_s / alone_s:.3f}")


if __name__ == "__main__":
    main()
