"""What a sweep produces, as plain data: one measured row per generated text, one drift value per cell.

Rows are written to rows.jsonl as they finish and read back to resume, so each record round-trips through a
dict. A row's `id` hashes everything that decides its tokens (model, sampling, unit, mode, the edit, the prompt,
the seed): a rerun of the same spec finds its finished rows by id and skips them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.sweeps.spec import SweepSpec

BASELINE = "baseline"
STEERED = "steered"
DRIFT = "drift"


@dataclass(frozen=True)
class SweepRow:
    """One generated text and its metrics, read by the unsteered model. A baseline row (no edit) carries the
    concept of every target; a steered row the concept of its own target."""

    id: str
    kind: str  # BASELINE or STEERED
    prompt: str
    system: str | None
    chat: bool
    seed: int
    text: str
    prompt_ids: tuple[int, ...]
    token_ids: tuple[int, ...]
    finish_reason: str
    nll: float | None  # mean NLL per generated token (None: nothing generated)
    distinct1: float | None
    distinct2: float | None
    longest_repeat: int
    concept: dict[str, float] = field(default_factory=dict)  # target name → mean activation ÷ max activation
    fires: dict[str, float] = field(default_factory=dict)  # target name → fraction of generated positions firing
    target: str | None = None  # the swept feature ("L15:852"); steered rows only
    sae: str | None = None  # the SAE the edit steers through (the target's, or a counterpart's)
    layer: int | None = None
    feature: int | None = None  # the steered feature id at that SAE
    cosine: float | None = None  # its decoder cosine with the target (1 at the target's own SAE)
    strength: float | None = None

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["prompt_ids"] = list(self.prompt_ids)
        record["token_ids"] = list(self.token_ids)
        return record

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepRow:
        values = dict(data)
        values["prompt_ids"] = tuple(int(i) for i in values["prompt_ids"])
        values["token_ids"] = tuple(int(i) for i in values["token_ids"])
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})

    def public(self) -> dict[str, Any]:
        """The `--json` row: a steered row's concept and fires as numbers for its own target."""
        record = self.to_dict()
        del record["id"], record["kind"]
        if self.kind == STEERED and self.target is not None:
            record["concept"] = self.concept.get(self.target, 0.0)
            record["fires"] = self.fires.get(self.target, 0.0)
        return record


@dataclass(frozen=True)
class DriftCell:
    """KL(steered ‖ unsteered) of next-token distributions on held-out sentences under one cell's edit."""

    id: str
    target: str
    sae: str
    layer: int
    feature: int
    strength: float
    kl: float  # nats, mean over the sentences' positions
    positions: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftCell:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class TargetInfo:
    """A swept feature as the sweep resolved it: its SAE, layer, label scale, and the SAEs it steers through."""

    name: str
    sae: str
    layer: int
    feature: int
    max_activation: float | None  # the concept's unit; None: no statistics, concept is in raw activation
    steer_at: tuple[tuple[str, int, int, float], ...]  # (sae key, layer, feature, cosine) per steered SAE

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sae": self.sae,
            "layer": self.layer,
            "feature": self.feature,
            "max_activation": self.max_activation,
            "concept_unit": "maxact" if self.max_activation else "raw",
            "steer_at": [{"sae": s, "layer": ly, "feature": f, "cosine": c} for s, ly, f, c in self.steer_at],
        }


@dataclass(frozen=True)
class SweepResult:
    """Every finished row of a sweep (also those reused from an earlier, interrupted run) and its drift cells."""

    spec: SweepSpec
    targets: tuple[TargetInfo, ...]
    rows: tuple[SweepRow, ...]  # steered rows, in grid order
    baseline: tuple[SweepRow, ...]
    drift: tuple[DriftCell, ...]
    cancelled: bool = False
    reused: int = 0  # rows read back from an earlier run instead of generated
    timing: dict[str, float] = field(default_factory=dict)  # generate_s, measure_s, drift_s, wall_s
