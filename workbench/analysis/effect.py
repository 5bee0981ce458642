"""Did the steer take effect? The steered features' activations, re-measured by the unsteered model, on the
baseline's text and on each variant's text (prompt + generated tokens)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workbench.cancel import CancelToken
from workbench.saes.selection import sae_for_edit

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.models.generation import GenerationResult
    from workbench.steering.plan import SteeringPlan


@dataclass(frozen=True)
class EffectRow:
    variant: str
    layer: int
    feature: int
    baseline_mean: float  # mean activation over the generated positions of the baseline's text
    variant_mean: float  # … of the variant's text
    baseline_max: float
    variant_max: float

    @property
    def ratio(self) -> float | None:
        return self.variant_mean / self.baseline_mean if self.baseline_mean > 0 else None


def steer_effect(
    engine: Engine, plan: SteeringPlan, result: GenerationResult, cancel: CancelToken | None = None
) -> list[EffectRow]:
    """One row per (variant, steered SAE feature); empty when no variant steers an SAE feature."""
    prompt = list(result.prompt_ids)
    baseline_ids = prompt + list(result.panes[0].token_ids)
    rows: list[EffectRow] = []
    for variant, pane in zip(plan.variants[1:], result.panes[1:], strict=True):
        wanted: dict[str, list[int]] = {}
        for edit in variant.active_edits:
            if edit.feature is None:
                continue
            sae = sae_for_edit(engine.saes, edit.layer, edit.sae)
            if sae is None:  # removed since the run: the same error the engine gives
                sae = engine.sae(edit.sae or edit.layer)
            wanted.setdefault(sae.key, [])
            if edit.feature not in wanted[sae.key]:
                wanted[sae.key].append(edit.feature)
        if not wanted:
            continue
        keys = list(wanted)
        base = engine.features(baseline_ids, keys, top_k=1, features=wanted, cancel=cancel)
        steered = engine.features(prompt + list(pane.token_ids), keys, top_k=1, features=wanted, cancel=cancel)
        start = max(len(prompt) - 1, 0)  # generated positions, as the unsteered model reads them
        for key, features in wanted.items():
            b, v = base[key].dense[start:], steered[key].dense[start:]
            for column, feature in enumerate(features):
                rows.append(
                    EffectRow(
                        variant=variant.name,
                        layer=base[key].layer,
                        feature=feature,
                        baseline_mean=_mean(b[:, column]),
                        variant_mean=_mean(v[:, column]),
                        baseline_max=_max(b[:, column]),
                        variant_max=_max(v[:, column]),
                    )
                )
    return rows


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def _max(values: np.ndarray) -> float:
    return float(values.max()) if values.size else 0.0
