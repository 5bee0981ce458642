"""Summaries of a sweep's rows: per cell (target × layer × strength), per prompt, the baseline, the best setting.

- a cell's metrics: mean and 95 % interval over its prompts × seeds;
- reliability of a cell: the share of prompts whose concept there (mean over seeds) beats the same prompt's
  baseline concept by `reliability_margin`;
- per prompt (and target and layer): steerability = the least-squares slope of concept over strength;
  anti-steerable = the concept does not rise (slope ≤ 0);
- best setting: the cell with the highest concept whose mean NLL stays within `max_nll_increase` of the
  baseline's. Both thresholds are part of the output, and the summary can be recomputed with others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from workbench.sweeps.metrics import mean_ci, slope
from workbench.sweeps.records import SweepResult, SweepRow

PromptKey = tuple[str, str | None, bool]


@dataclass(frozen=True)
class Thresholds:
    reliability_margin: float = 0.05  # in concept units (a fraction of the feature's max activation)
    max_nll_increase: float = 0.5  # nats per token above the baseline's mean NLL


@dataclass(frozen=True)
class CellSummary:
    target: str
    sae: str
    layer: int
    feature: int
    cosine: float
    strength: float
    unit: str
    n: int
    concept_mean: float | None
    concept_ci: tuple[float, float] | None
    fires_mean: float | None
    nll_mean: float | None
    nll_ci: tuple[float, float] | None
    distinct1_mean: float | None
    distinct2_mean: float | None
    longest_repeat_mean: float | None
    reliability: float | None
    kl: float | None


@dataclass(frozen=True)
class PromptSteerability:
    prompt: str
    system: str | None
    chat: bool
    target: str
    sae: str
    layer: int
    steerability: float | None
    anti_steerable: bool | None


@dataclass(frozen=True)
class SweepSummary:
    cells: tuple[CellSummary, ...]
    prompts: tuple[PromptSteerability, ...]
    baseline: dict[str, Any]
    best: dict[str, Any] | None
    thresholds: Thresholds


def summarise(result: SweepResult, thresholds: Thresholds | None = None) -> SweepSummary:
    thresholds = thresholds or Thresholds()
    base_concept = _baseline_concepts(result.baseline)
    drift = {(d.target, d.sae, d.feature, d.strength): d.kl for d in result.drift}
    groups: dict[tuple[str, str, int, int, float], list[SweepRow]] = {}
    for row in result.rows:
        assert row.target and row.sae and row.layer is not None and row.feature is not None
        assert row.strength is not None
        groups.setdefault((row.target, row.sae, row.layer, row.feature, row.strength), []).append(row)
    cells = tuple(
        _cell(key, rows, result.spec.unit.value, base_concept, drift, thresholds) for key, rows in groups.items()
    )
    baseline = _baseline_summary(result)
    return SweepSummary(
        cells=cells,
        prompts=tuple(_steerability(result.rows)),
        baseline=baseline,
        best=_best(cells, baseline.get("nll_mean"), thresholds),
        thresholds=thresholds,
    )


def _prompt_key(row: SweepRow) -> PromptKey:
    return (row.prompt, row.system, row.chat)


def _concept(row: SweepRow, target: str) -> float:
    return row.concept.get(target, 0.0)


def _baseline_concepts(rows: Sequence[SweepRow]) -> dict[tuple[str, PromptKey], float]:
    """(target, prompt) → the baseline's concept for that prompt, mean over seeds."""
    values: dict[tuple[str, PromptKey], list[float]] = {}
    for row in rows:
        for target, value in row.concept.items():
            values.setdefault((target, _prompt_key(row)), []).append(value)
    return {k: sum(v) / len(v) for k, v in values.items()}


def _cell(
    key: tuple[str, str, int, int, float],
    rows: list[SweepRow],
    unit: str,
    base_concept: dict[tuple[str, PromptKey], float],
    drift: dict[tuple[str, str, int, float], float],
    thresholds: Thresholds,
) -> CellSummary:
    target, sae, layer, feature, strength = key
    concepts = [_concept(r, target) for r in rows]
    concept_mean, concept_ci = mean_ci(concepts)
    nll_mean, nll_ci = mean_ci([r.nll for r in rows if r.nll is not None])
    per_prompt: dict[PromptKey, list[float]] = {}
    for r in rows:
        per_prompt.setdefault(_prompt_key(r), []).append(_concept(r, target))
    compared = [(sum(v) / len(v), base_concept.get((target, p))) for p, v in per_prompt.items()]
    compared = [(c, b) for c, b in compared if b is not None]
    reliability = None
    if compared:
        reliability = sum(c > b + thresholds.reliability_margin for c, b in compared if b is not None) / len(compared)
    return CellSummary(
        target=target,
        sae=sae,
        layer=layer,
        feature=feature,
        cosine=rows[0].cosine if rows[0].cosine is not None else 1.0,
        strength=strength,
        unit=unit,
        n=len(rows),
        concept_mean=concept_mean,
        concept_ci=concept_ci,
        fires_mean=mean_ci([r.fires.get(target, 0.0) for r in rows])[0],
        nll_mean=nll_mean,
        nll_ci=nll_ci,
        distinct1_mean=mean_ci([r.distinct1 for r in rows if r.distinct1 is not None])[0],
        distinct2_mean=mean_ci([r.distinct2 for r in rows if r.distinct2 is not None])[0],
        longest_repeat_mean=mean_ci([float(r.longest_repeat) for r in rows])[0],
        reliability=reliability,
        kl=drift.get((target, sae, feature, strength)),
    )


def _steerability(rows: Sequence[SweepRow]) -> list[PromptSteerability]:
    """Per (prompt, target, SAE): the slope of the seed-mean concept over strength."""
    points: dict[tuple[PromptKey, str, str, int], dict[float, list[float]]] = {}
    for r in rows:
        assert r.target and r.sae and r.layer is not None and r.strength is not None
        by_strength = points.setdefault((_prompt_key(r), r.target, r.sae, r.layer), {})
        by_strength.setdefault(r.strength, []).append(_concept(r, r.target))
    out = []
    for (prompt, target, sae, layer), by_strength in points.items():
        xs = sorted(by_strength)
        value = slope(xs, [sum(by_strength[x]) / len(by_strength[x]) for x in xs])
        out.append(
            PromptSteerability(
                prompt=prompt[0],
                system=prompt[1],
                chat=prompt[2],
                target=target,
                sae=sae,
                layer=layer,
                steerability=value,
                anti_steerable=None if value is None else value <= 0,
            )
        )
    return out


def _baseline_summary(result: SweepResult) -> dict[str, Any]:
    rows = result.baseline
    nll_mean, nll_ci = mean_ci([r.nll for r in rows if r.nll is not None])
    concept = {}
    for t in result.targets:
        mean, ci = mean_ci([_concept(r, t.name) for r in rows])
        concept[t.name] = {
            "concept_mean": mean,
            "concept_ci": ci,
            "fires_mean": mean_ci([r.fires.get(t.name, 0.0) for r in rows])[0],
        }
    return {
        "n": len(rows),
        "nll_mean": nll_mean,
        "nll_ci": nll_ci,
        "distinct1_mean": mean_ci([r.distinct1 for r in rows if r.distinct1 is not None])[0],
        "distinct2_mean": mean_ci([r.distinct2 for r in rows if r.distinct2 is not None])[0],
        "concept": concept,
    }


def _best(cells: Sequence[CellSummary], baseline_nll: float | None, thresholds: Thresholds) -> dict[str, Any] | None:
    """The highest-concept cell within the NLL budget (ties: the smaller strength, the gentler push)."""
    limit = baseline_nll + thresholds.max_nll_increase if baseline_nll is not None else None
    allowed = [
        c
        for c in cells
        if c.concept_mean is not None and c.nll_mean is not None and (limit is None or c.nll_mean <= limit)
    ]
    if not allowed:
        return None
    best = max(allowed, key=lambda c: (c.concept_mean or 0.0, -abs(c.strength)))
    return {
        "layer": best.layer,
        "feature": best.feature,
        "strength": best.strength,
        "target": best.target,
        "sae": best.sae,
        "unit": best.unit,
        "concept_mean": best.concept_mean,
        "nll_mean": best.nll_mean,
        "nll_limit": limit,
    }


def cell_dict(cell: CellSummary) -> dict[str, Any]:
    record = asdict(cell)
    for key in ("concept_ci", "nll_ci"):
        record[key] = list(record[key]) if record[key] is not None else None
    return record
