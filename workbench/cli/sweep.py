"""`steering-workbench sweep`: strength × layer × prompt × seed with judge-free metrics (see workbench/sweeps/).

Every input is parsed before the model loads, so a typo fails in milliseconds with one line (exit 2). `--out DIR`
keeps rows.jsonl (appended as rows finish), cells.csv and the plots; rerunning into the same DIR resumes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cancel import CancelToken
from workbench.errors import Cancelled, InputError
from workbench.progress import Progress

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.sweeps.records import SweepResult
    from workbench.sweeps.summary import SweepSummary


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("sweep", help="sweep strength × layer × prompt × seed and measure the steer without a judge")
    common(p)
    p.add_argument(
        "--feature",
        action="append",
        default=[],
        metavar="L:ID",
        help="a feature to sweep: layer (or SAE key) and id, e.g. 15:3877 (repeatable)",
    )
    p.add_argument("--mode", default="add", choices=("add", "clamp"))
    p.add_argument("--strengths", default=None, help="comma list, e.g. -8,-4,0,4,8 (default: the recipe's)")
    p.add_argument("--unit", default=None, choices=("raw", "maxact", "resid"), help="default: the recipe's")
    p.add_argument("--layers", default=None, help="own, all (nearest decoder direction at every SAE) or 8,15")
    p.add_argument("--prompts", default=None, metavar="FILE|builtin:NAME", help="default: builtin:neutral")
    p.add_argument("--seeds", default=None, help="comma list, e.g. 0,1 (default: the recipe's)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--raw", action="store_true", help="no chat template: every prompt is raw text")
    p.add_argument("--recipe", default=None, choices=("magnitude", "layer", "context", "seeds"))
    p.add_argument("--out", default=None, metavar="DIR", help="rows.jsonl, cells.csv, plots; a rerun resumes")
    p.add_argument("--batch-size", type=int, default=None, help="rows per batch (default: from free memory)")
    p.add_argument("--temperature", type=float, default=0.7, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--reliability-margin", type=float, default=None, help="concept above baseline (default 0.05)")
    p.add_argument("--max-nll-increase", type=float, default=None, help="best setting's NLL budget (default 0.5)")


def cmd_sweep(
    args: argparse.Namespace, cancel: CancelToken, engine_for: Callable[[argparse.Namespace, CancelToken], Engine]
) -> dict[str, Any] | None:
    from workbench.models.edits import EditMode
    from workbench.models.sampling import SamplingSettings
    from workbench.steering.plan import StrengthUnit
    from workbench.sweeps.recipes import build_spec
    from workbench.sweeps.runner import run_sweep
    from workbench.sweeps.spec import SweepTarget, parse_layers, parse_numbers, parse_seeds
    from workbench.sweeps.store import RowStore
    from workbench.sweeps.summary import Thresholds, summarise

    # STEP 1: everything the user typed, before the slow model load.
    if not args.feature:
        raise InputError("no feature given: add --feature LAYER:ID (e.g. --feature 15:3877)")
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError("--batch-size must be ≥ 1")
    if args.layers is not None:
        parse_layers(args.layers)
    thresholds = Thresholds(
        **{
            k: v
            for k, v in (
                ("reliability_margin", args.reliability_margin),
                ("max_nll_increase", args.max_nll_increase),
            )
            if v is not None
        }
    )
    spec = build_spec(
        tuple(SweepTarget.parse(f) for f in args.feature),
        args.recipe,
        strengths=parse_numbers(args.strengths, "strength list") if args.strengths is not None else None,
        unit=StrengthUnit(args.unit) if args.unit else None,
        layers=args.layers,
        prompts=args.prompts,
        seeds=parse_seeds(args.seeds) if args.seeds is not None else None,
        mode=EditMode(args.mode),
        chat=not args.raw,
        max_new_tokens=args.max_new_tokens,
        sampling=SamplingSettings(temperature=args.temperature, top_p=args.top_p),
    )
    store = RowStore(Path(args.out).expanduser()) if args.out else None
    # STEP 2: the model, then the grid (unknown features and a clamp the backend lacks fail here, before work).
    engine = engine_for(args, cancel)
    if store is not None:
        store.write_spec(spec.to_dict())
    show = _print_progress if sys.stderr.isatty() else None
    result = run_sweep(
        engine,
        spec,
        store=store,
        batch_size=args.batch_size,
        progress=show or (lambda _p: None),
        cancel=cancel,
    )
    # STEP 3: summaries and files, also for a cancelled sweep (its finished rows are kept).
    summary = summarise(result, thresholds)
    if store is not None:
        _write_outputs(store.folder, summary, spec.unit.value)
    if result.cancelled:
        raise Cancelled("cancelled: the finished rows are kept" + (f" in {store.path}" if store else ""))
    if args.json:
        from workbench.sweeps.report import sweep_json

        return sweep_json(result, summary)
    _print_summary(result, summary)
    return None


def _write_outputs(folder: Path, summary: SweepSummary, unit: str) -> None:
    from workbench.sweeps.plots import write_plots
    from workbench.sweeps.report import write_cells_csv

    write_cells_csv(folder, summary)
    if summary.cells:
        write_plots(folder, summary, unit)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _print_summary(result: SweepResult, summary: SweepSummary) -> None:
    base = summary.baseline
    print(f"baseline: n {base['n']}, NLL {_fmt(base['nll_mean'])}, distinct-2 {_fmt(base['distinct2_mean'])}")
    for name, values in base["concept"].items():
        print(f"  concept of {name}: {_fmt(values['concept_mean'])}")
    print(f"{'target':>10} {'SAE':>6} {'feat':>5} {'strength':>9} {'n':>3} {'concept':>8} {'NLL':>7} "
          f"{'dist-2':>6} {'reliab':>6} {'KL':>7}")  # fmt: skip
    for c in summary.cells:
        print(
            f"{c.target:>10} {c.sae:>6} {c.feature:>5} {c.strength:>9g} {c.n:>3} {_fmt(c.concept_mean):>8} "
            f"{_fmt(c.nll_mean):>7} {_fmt(c.distinct2_mean, 2):>6} {_fmt(c.reliability, 2):>6} {_fmt(c.kl, 4):>7}"
        )
    t = summary.thresholds
    if summary.best is None:
        print(f"best setting: none keeps NLL within +{t.max_nll_increase:g} of the baseline")
    else:
        b = summary.best
        print(
            f"best setting (NLL within +{t.max_nll_increase:g} of the baseline): {b['sae']} feature {b['feature']} "
            f"at {b['strength']:g} {b['unit']}"
        )
    anti = sum(1 for p in summary.prompts if p.anti_steerable)
    print(f"anti-steerable: {anti} of {len(summary.prompts)} (prompt, layer) pairs; reused rows: {result.reused}")


def _print_progress(p: Progress) -> None:
    eta = f", ETA {p.eta_s:.0f} s" if p.eta_s is not None else ""
    print(f"\r{p.phase}{eta}\033[K", end="", file=sys.stderr, flush=True)
    if p.total and p.done >= p.total:
        print(file=sys.stderr)
