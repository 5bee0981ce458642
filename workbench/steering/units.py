"""Strength units. Peers use incompatible ones, so the app converts between them and shows all three.

- raw: the coefficient s itself (for clamp: the target activation c, in the SAE's activation space).
- maxact: s = k × max activation of the feature on a reference corpus (AxBench sweeps 0.2–5, Anthropic ±10).
- resid: s chosen so the added vector s·d_i has norm k × the layer's mean residual norm (≈0.5 works well).
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import SteeringError
from workbench.steering.plan import StrengthUnit


@dataclass(frozen=True)
class UnitScales:
    """What one unit of each kind is worth as a raw coefficient, for one feature; None = no statistics yet."""

    maxact: float | None
    resid: float | None

    def scale(self, unit: StrengthUnit) -> float | None:
        if unit is StrengthUnit.RAW:
            return 1.0
        return self.maxact if unit is StrengthUnit.MAXACT else self.resid


def unit_scales(max_activation: float | None, resid_norm: float | None, direction_norm: float) -> UnitScales:
    """Scales for a feature with the given max activation, layer residual norm and decoder-row norm."""
    resid = None
    if resid_norm is not None and direction_norm > 0:
        resid = resid_norm / direction_norm
    maxact = max_activation if max_activation is not None and max_activation > 0 else None
    return UnitScales(maxact=maxact, resid=resid)


def to_raw(strength: float, unit: StrengthUnit, scales: UnitScales, what: str = "this feature") -> float:
    """Convert a strength in `unit` to a raw coefficient; a clear error when the statistics are missing."""
    scale = scales.scale(unit)
    if scale is None:
        raise SteeringError(
            f"the '{unit.value}' unit needs statistics for {what}, which are not computed yet "
            f"(run `steering-workbench stats` on some text, or use the raw unit)"
        )
    return strength * scale


def all_units(raw: float, scales: UnitScales) -> dict[str, float | None]:
    """The same raw coefficient expressed in every unit (None where statistics are missing)."""
    out: dict[str, float | None] = {}
    for unit in StrengthUnit:
        scale = scales.scale(unit)
        out[unit.value] = None if not scale else raw / scale
    return out
