"""Expand a sweep spec against the loaded SAEs into its rows: which SAE and feature each target steers through
at each layer, and one `GridRow` per (prompt, seed) baseline and per (target, layer, strength, prompt, seed).

"Every loaded SAE" reuses the one-feature × layers matching (analysis/feature_layers.py): feature ids of
different SAEs name unrelated features, so at another SAE the target's counterpart is the feature whose decoder
direction is closest to the target's, and its cosine travels with every row so a weak match stays visible.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.errors import InputError
from workbench.sweeps.records import BASELINE, STEERED, TargetInfo
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.saes.loader import LoadedSae


@dataclass(frozen=True)
class GridRow:
    """One row to generate; `id` is stable across runs of the same spec (see records.py)."""

    id: str
    kind: str
    prompt_index: int
    prompt: SweepPrompt
    seed: int
    target: str | None = None
    sae: str | None = None
    layer: int | None = None
    feature: int | None = None
    cosine: float | None = None
    strength: float | None = None


@dataclass(frozen=True)
class Grid:
    targets: tuple[TargetInfo, ...]
    rows: tuple[GridRow, ...]
    context: str  # hash of what every row's tokens depend on besides its own edit, prompt and seed

    def cells(self) -> list[tuple[str, str, int, int, float, float]]:
        """(target, sae, layer, feature, cosine, strength) per (layer × strength) cell, in grid order."""
        seen: dict[tuple[str, str, int, int, float, float], None] = {}
        for r in self.rows:
            if r.kind == STEERED:
                assert r.target and r.sae and r.layer is not None and r.feature is not None
                assert r.cosine is not None and r.strength is not None
                seen[(r.target, r.sae, r.layer, r.feature, r.cosine, r.strength)] = None
        return list(seen)


def resolve_target(engine: Engine, target: SweepTarget) -> LoadedSae:
    """The loaded SAE a target names, by key ("L15") or layer number ("15"); one clear line when it is missing
    or the feature id is out of range."""
    from workbench.saes.selection import sae_named

    key: str | int = target.sae
    found = sae_named(engine.saes, key)
    if found is None and target.sae.isdigit():
        found = sae_named(engine.saes, int(target.sae))
    if found is None:
        loaded = ", ".join(s.key for s in engine.saes) or "none"
        raise InputError(f"unknown feature {target.name}: no SAE {target.sae!r} is loaded (loaded: {loaded})")
    if target.feature >= found.d_sae:
        raise InputError(f"unknown feature {target.name}: the SAE {found.key} has features 0–{found.d_sae - 1}")
    return found


def steer_points(
    engine: Engine, spec: SweepSpec, anchor: LoadedSae, feature: int
) -> list[tuple[LoadedSae, int, float]]:
    """(sae, feature, cosine) for each SAE the target is steered through."""
    from workbench.analysis.feature_layers import match_across

    if spec.layers == "own":
        return [(anchor, feature, 1.0)]
    matches = match_across(engine.saes, anchor.key, feature)
    wanted = spec.explicit_layers()
    if wanted is None:
        return matches
    missing = sorted(set(wanted) - {s.layer for s, _f, _c in matches})
    if missing:
        loaded = ", ".join(str(s.layer) for s in engine.saes) or "none"
        raise InputError(f"no SAE is loaded at layer {missing[0]} (SAEs are loaded at layers: {loaded})")
    # One SAE per listed layer: the target's own where it is one of them, else the first loaded there.
    chosen: dict[int, tuple[LoadedSae, int, float]] = {}
    for s, f, c in matches:
        if s.layer in wanted and (s.layer not in chosen or s is anchor):
            chosen[s.layer] = (s, f, c)
    return [chosen[layer] for layer in sorted(chosen)]


def build_grid(engine: Engine, spec: SweepSpec) -> Grid:
    context = context_hash(engine, spec)
    targets: list[TargetInfo] = []
    steered: list[tuple[str, LoadedSae, int, float]] = []
    for target in spec.targets:
        anchor = resolve_target(engine, target)
        name = f"{anchor.key}:{target.feature}"
        points = steer_points(engine, spec, anchor, target.feature)
        max_act = float(anchor.stats.max_activation[target.feature]) if anchor.stats is not None else None
        targets.append(
            TargetInfo(
                name=name,
                sae=anchor.key,
                layer=anchor.layer,
                feature=target.feature,
                max_activation=max_act if max_act and max_act > 0 else None,
                steer_at=tuple((s.key, s.layer, f, round(c, 6)) for s, f, c in points),
            )
        )
        steered.extend((name, s, f, round(c, 6)) for s, f, c in points)
    rows: list[GridRow] = []
    for index, prompt in enumerate(spec.prompts):
        for seed in spec.seeds:
            rows.append(GridRow(row_id(context, BASELINE, prompt, seed), BASELINE, index, prompt, seed))
            for name, sae, feature, cosine in steered:
                for strength in spec.strengths:
                    edit = (name, sae.fingerprint, sae.layer, feature, strength)
                    rows.append(
                        GridRow(
                            id=row_id(context, STEERED, prompt, seed, edit),
                            kind=STEERED,
                            prompt_index=index,
                            prompt=prompt,
                            seed=seed,
                            target=name,
                            sae=sae.key,
                            layer=sae.layer,
                            feature=feature,
                            cosine=cosine,
                            strength=strength,
                        )
                    )
    return Grid(tuple(targets), tuple(rows), context)


def context_hash(engine: Engine, spec: SweepSpec) -> str:
    """What every row's tokens depend on besides its edit, prompt and seed."""
    info = engine.backend.info
    data = {
        "model": [info.name, info.source, info.dtype, info.device],
        "sampling": spec.row_settings(0).to_dict(),
        "mode": spec.mode.value,
        "unit": spec.unit.value,
    }
    return _digest(data)


def row_id(context: str, kind: str, prompt: SweepPrompt, seed: int, edit: tuple[Any, ...] = ()) -> str:
    return _digest([context, kind, prompt.text, prompt.system, prompt.chat, seed, list(edit)])


def drift_id(context: str, target: str, sae_fingerprint: str, feature: int, strength: float) -> str:
    return _digest([context, "drift", target, sae_fingerprint, feature, strength])


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:20]
