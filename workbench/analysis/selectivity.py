"""Differential steering: is a steer selective, or does it move a neighbouring feature as much as its own?

Steer feature A, and separately its neighbour B, at the same strength (one batch with the baseline, same seed).
Then read every output with the UNSTEERED model (prompt + generated tokens; steering would inflate its own
feature's reading) and measure, over the generated positions, the mean activation of both A and B: a 2 × 2 table
plus the baseline row.

  selectivity = (A under A's steer − A at baseline) − (A under B's steer − A at baseline)
              = how much more A's steer raises A than B's steer raises A,
expressed as a fraction of A's max activation on the reference corpus (the sweep's "concept" scale) when the
statistics are known, else in raw activation. Near 0: B's steer does A's job as well (the two are not told
apart by steering); `reverse` is the same for B.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import Cancelled, InputError

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.models.sampling import SamplingSettings
    from workbench.steering.plan import StrengthUnit

DEFAULT_PROMPT = "Tell me about your weekend."


@dataclass(frozen=True)
class FeatureRef:
    """A feature of a loaded SAE: its layer, id and the SAE's key."""

    layer: int
    feature: int
    sae_key: str

    def describe(self) -> str:
        return f"L{self.layer}:f{self.feature}"


@dataclass(frozen=True)
class SteeredRow:
    """One output (baseline, A steered or B steered) read back by the unsteered model."""

    name: str
    text: str
    token_ids: tuple[int, ...]
    activation_a: float  # mean activation of A over the generated positions
    activation_b: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text": self.text,
            "generated_tokens": len(self.token_ids),
            "activation_a": _sig(self.activation_a),
            "activation_b": _sig(self.activation_b),
        }


@dataclass(frozen=True)
class Selectivity:
    feature_a: FeatureRef
    feature_b: FeatureRef
    strength: float
    unit: str
    prompt: str
    rows: tuple[SteeredRow, SteeredRow, SteeredRow]  # baseline, steer A, steer B
    scale_a: float  # what A's activations are divided by for `selectivity` (A's max activation, or 1)
    scale_b: float
    scaled_by: str  # "maxact" or "raw"

    @property
    def selectivity(self) -> float:
        """How much more A's steer raises A than B's steer raises A (in A's max activations, or raw)."""
        return selectivity_of(self.rows, "a") / self.scale_a

    @property
    def reverse(self) -> float:
        """The same for B: how much more B's steer raises B than A's steer raises B."""
        return selectivity_of(self.rows, "b") / self.scale_b

    def to_dict(self) -> dict[str, Any]:
        """The `selectivity --json` record."""
        return {
            "feature": self.feature_a.describe(),
            "versus": self.feature_b.describe(),
            "strength": self.strength,
            "unit": self.unit,
            "prompt": self.prompt,
            "rows": [r.to_dict() for r in self.rows],
            "selectivity": _sig(self.selectivity),
            "reverse_selectivity": _sig(self.reverse),
            "scale": self.scaled_by,
        }


def selectivity_of(rows: Sequence[SteeredRow], which: str) -> float:
    """(rise of `which` under its own steer) − (rise of `which` under the other feature's steer), raw units.

    rows = (baseline, steer A, steer B); for `which` = "b" the roles of the two steered rows swap."""
    base, steer_a, steer_b = rows
    own, other = (steer_a, steer_b) if which == "a" else (steer_b, steer_a)
    value = {"a": lambda r: r.activation_a, "b": lambda r: r.activation_b}[which]
    return (value(own) - value(base)) - (value(other) - value(base))


def generated_activations(
    engine: Engine, prompt_ids: Sequence[int], generated: Sequence[int], features: Sequence[FeatureRef]
) -> list[float]:
    """Mean activation of each feature over the generated positions of prompt + generated, read by the unsteered
    model (0.0 when nothing was generated)."""
    if not generated:
        return [0.0 for _ in features]
    keys = list(dict.fromkeys(f.sae_key for f in features))
    wanted = {k: sorted({f.feature for f in features if f.sae_key == k}) for k in keys}
    acts = engine.features([*prompt_ids, *generated], keys, top_k=1, features=wanted)
    out = []
    for f in features:
        a = acts[f.sae_key]
        column = a.dense[:, a.features.index(f.feature)]
        out.append(float(np.mean(column[len(prompt_ids) :])))
    return out


def measure_selectivity(
    engine: Engine,
    feature_a: FeatureRef,
    feature_b: FeatureRef,
    strength: float,
    unit: StrengthUnit | str = "raw",
    prompt: str = DEFAULT_PROMPT,
    settings: SamplingSettings | None = None,
    chat: bool = True,
    cancel: CancelToken | None = None,
) -> Selectivity:
    """Steer A and B separately at `strength` (in `unit`), read all three outputs unsteered, and compare."""
    from workbench.models.sampling import SamplingSettings
    from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, StrengthUnit, Variant

    unit = StrengthUnit(unit)
    settings = settings or SamplingSettings(temperature=0.0, max_new_tokens=32, stop_at_eos=False)
    for ref in (feature_a, feature_b):
        sae = engine.sae(ref.sae_key)
        if not 0 <= ref.feature < sae.d_sae:
            raise InputError(
                f"feature {ref.feature} does not exist: the SAE at layer {sae.layer} has 0–{sae.d_sae - 1}"
            )

    def edit(ref: FeatureRef) -> FeatureEdit:
        return FeatureEdit(ref.layer, ref.feature, strength, EditMode.ADD, unit, sae=ref.sae_key)

    plan = SteeringPlan.with_baseline(Variant("steer A", (edit(feature_a),)), Variant("steer B", (edit(feature_b),)))
    result = engine.generate(prompt, plan, settings, chat=chat, cancel=cancel).run()
    if result.cancelled:
        raise Cancelled()
    rows = []
    for pane in result.panes:
        check(cancel)  # between read-backs
        a, b = generated_activations(engine, result.prompt_ids, pane.token_ids, (feature_a, feature_b))
        rows.append(SteeredRow(pane.name, pane.text, pane.token_ids, a, b))
    scale_a, scale_b = _max_activation(engine, feature_a), _max_activation(engine, feature_b)
    scaled = scale_a is not None and scale_b is not None
    return Selectivity(
        feature_a,
        feature_b,
        strength,
        unit.value,
        prompt,
        (rows[0], rows[1], rows[2]),
        scale_a if scaled and scale_a else 1.0,
        scale_b if scaled and scale_b else 1.0,
        "maxact" if scaled else "raw",
    )


def _max_activation(engine: Engine, ref: FeatureRef) -> float | None:
    stats = engine.sae(ref.sae_key).stats
    if stats is None:
        return None
    value = float(stats.max_activation[ref.feature])
    return value if value > 0 else None


def parse_feature_ref(engine: Engine, text: str) -> FeatureRef:
    """`8:809`, `L8:809` or `L8:f809` → the feature of the first SAE loaded at layer 8."""
    layer_text, sep, feature_text = text.strip().partition(":")
    try:
        layer = int(layer_text.strip().lower().removeprefix("l"))
        feature = int(feature_text.strip().lower().removeprefix("f").removeprefix("#"))
    except ValueError:
        raise InputError(f"malformed feature {text!r}: expected LAYER:FEATURE, e.g. 8:809") from None
    if not sep or layer < 0 or feature < 0:
        raise InputError(f"malformed feature {text!r}: expected LAYER:FEATURE, e.g. 8:809")
    sae = engine.sae(layer)
    if feature >= sae.d_sae:
        raise InputError(f"feature {feature} does not exist: the SAE at layer {layer} has 0–{sae.d_sae - 1}")
    return FeatureRef(layer, feature, sae.key)


def _sig(value: float) -> float:
    return float(f"{value:.4g}")
