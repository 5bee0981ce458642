"""The steering plan: what to add to the residual stream, where, and how strongly.

Plain frozen dataclasses, so a plan can cross threads, be compared, hashed and saved as JSON. Methods return
new values instead of mutating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np

# The modes live with the backends, which declare the ones they can apply; they are part of the plan's vocabulary.
from workbench.models.edits import EditMode as EditMode


class StrengthUnit(StrEnum):
    """The unit a strength is given in; converted to a raw coefficient with the SAE's statistics."""

    RAW = "raw"  # the coefficient itself
    MAXACT = "maxact"  # × the feature's max activation on a reference corpus
    RESID = "resid"  # the added vector's norm as a multiple of the layer's mean residual norm


class PositionScope(StrEnum):
    """Which token positions an edit applies to.

    `generated` covers every position whose output predicts a new token: the last prompt position and every
    generated one. Excluding the last prompt position would leave the first new token unsteered.
    """

    ALL = "all"
    PROMPT = "prompt"
    GENERATED = "generated"


# Far beyond any useful steer in any unit (the window's box stops at ±1000); a session or script asking for more
# (1e308 once reached sampling as inf) is refused where the edit is made.
MAX_STRENGTH = 1e6


@dataclass(frozen=True)
class FeatureEdit:
    """One edit at one layer: an SAE feature (by id) or a raw direction, with a mode and a strength."""

    layer: int
    feature: int | None = None
    strength: float = 0.0
    mode: EditMode = EditMode.ADD
    unit: StrengthUnit = StrengthUnit.RAW
    positions: PositionScope = PositionScope.ALL
    # A raw direction (d_model floats) instead of an SAE feature; add mode only.
    vector: tuple[float, ...] | None = None
    enabled: bool = True
    # Which SAE at this layer the feature id refers to (its key); None = the first SAE loaded at the layer.
    sae: str | None = None

    def __post_init__(self) -> None:
        if (self.feature is None) == (self.vector is None):
            raise ValueError("an edit names exactly one of a feature id or a raw vector")
        if self.vector is not None and self.mode is not EditMode.ADD:
            raise ValueError("a raw-vector edit can only add")
        if self.layer < 0:
            raise ValueError(f"layer must be ≥ 0, got {self.layer}")
        if self.feature is not None and self.feature < 0:
            raise ValueError(f"feature id must be ≥ 0, got {self.feature}")
        if not (math.isfinite(self.strength) and abs(self.strength) <= MAX_STRENGTH):
            raise ValueError(f"strength must be a finite number within ±{MAX_STRENGTH:g}, got {self.strength!r}")
        if self.vector is not None and not all(math.isfinite(v) for v in self.vector):
            raise ValueError("a raw vector's values must be finite numbers")

    @classmethod
    def from_vector(cls, layer: int, vector: np.ndarray, strength: float = 1.0) -> FeatureEdit:
        return cls(layer=layer, vector=tuple(float(v) for v in np.asarray(vector).ravel()), strength=strength)

    def with_strength(self, strength: float) -> FeatureEdit:
        return replace(self, strength=strength)

    def describe(self) -> str:
        """Short text such as `L8:f123 add 4 maxact` for reports and the CLI."""
        target = f"f{self.feature}" if self.feature is not None else f"vec[{len(self.vector or ())}]"
        strength = "" if self.mode is EditMode.ABLATE else f" {self.strength:g} {self.unit.value}"
        scope = "" if self.positions is PositionScope.ALL else f" @{self.positions.value}"
        return f"L{self.layer}:{target} {self.mode.value}{strength}{scope}"


@dataclass(frozen=True)
class Variant:
    """A named list of edits; the baseline is the variant with no edits."""

    name: str
    edits: tuple[FeatureEdit, ...] = ()

    @property
    def active_edits(self) -> tuple[FeatureEdit, ...]:
        return tuple(e for e in self.edits if e.enabled)

    def with_edits(self, edits: tuple[FeatureEdit, ...] | list[FeatureEdit]) -> Variant:
        return replace(self, edits=tuple(edits))

    def layers(self) -> set[int]:
        return {e.layer for e in self.active_edits}


@dataclass(frozen=True)
class SteeringPlan:
    """The baseline plus the steered variants generated side by side, baseline first."""

    variants: tuple[Variant, ...] = field(default_factory=lambda: (Variant("baseline"),))

    @classmethod
    def with_baseline(cls, *variants: Variant) -> SteeringPlan:
        return cls((Variant("baseline"), *variants))

    def layers(self) -> set[int]:
        return set().union(*(v.layers() for v in self.variants))

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variants]
