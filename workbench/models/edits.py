"""What a backend applies to the residual stream during a forward pass, and what it reports back.

A compiled steering plan (`workbench.steering.compiled.CompiledPlan`) satisfies `ResidualEdits`; a backend
applies it without knowing about SAEs or strength units. This vocabulary lives here, below steering and saes,
so that `models` imports neither of them (the layers in pyproject's import contract).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np


class EditMode(StrEnum):
    """How an edit changes the residual stream (see DESIGN.md, steering math)."""

    ADD = "add"  # x ← x + s·d_i
    CLAMP = "clamp"  # x ← x + (c − a_i(x))·d_i; the SAE error term is kept
    ABLATE = "ablate"  # clamp to 0


class ReportedEdit(Protocol):
    """An edit as a run reports it; `workbench.steering.plan.FeatureEdit` is one."""

    @property
    def layer(self) -> int: ...

    @property
    def feature(self) -> int | None: ...

    @property
    def mode(self) -> EditMode: ...

    @property
    def sae(self) -> str | None: ...

    @property
    def vector(self) -> tuple[float, ...] | None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class EditFiring:
    """How one edit of one pane actually acted during a run."""

    edit: ReportedEdit
    raw_strength: float  # the coefficient used (add: s; clamp: target activation c)
    positions: int  # positions whose residual it changed

    @property
    def flagged(self) -> bool:
        """True when the edit changed nothing: wrong layer for the text, a feature that never fires, s = 0."""
        return self.positions == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "edit": self.edit.describe(),
            "layer": self.edit.layer,
            "feature": self.edit.feature,
            "mode": self.edit.mode.value,
            "raw_strength": self.raw_strength,
            "positions": self.positions,
            "flagged": self.flagged,
        }


def scope_slice(positions: str, start: int, length: int, prompt_len: int) -> tuple[int, int]:
    """The slice [lo, hi) of a forward chunk (absolute positions start…start+length) that a position scope
    ("all", "prompt" or "generated", `workbench.steering.plan.PositionScope`) covers. `generated` starts at the
    last prompt position, whose output predicts the first new token."""
    if positions == "all":
        lo, hi = start, start + length
    elif positions == "prompt":
        lo, hi = start, min(start + length, prompt_len)
    else:
        lo, hi = max(start, prompt_len - 1), start + length
    return max(lo - start, 0), max(hi - start, 0)


@dataclass(frozen=True)
class ConstantAdd:
    """One add edit of one row as plain numbers, for a backend that adds it itself (a llama.cpp control vector)."""

    row: int
    layer: int
    positions: str  # "all", "prompt" or "generated"
    vector: np.ndarray  # (d_model,) float32: raw strength × direction, in model space


class ResidualEdits(Protocol):
    """Edits to apply after some decoder blocks, one batch row per pane (baseline first), with firing counts."""

    names: list[str]
    n_rows: int

    def reset_counts(self) -> None: ...

    def firing_report(self) -> list[tuple[EditFiring, ...]]:
        """Per row, per edit: how many positions it changed since the last reset."""
        ...

    def attached(self, blocks: Sequence[Any], start: int, prompt_len: int) -> AbstractContextManager[None]:
        """Forward hooks on torch decoder `blocks` for one forward pass whose first position is `start`."""
        ...

    def constant_adds(self) -> list[ConstantAdd]:
        """Every add edit as a constant vector; clamp and ablate have no constant form and are not listed."""
        ...

    def count_positions(self, start: int, length: int, prompt_len: int) -> None:
        """Count, for every add edit, the positions of a forward chunk it covers, when the backend added the
        vectors itself (the torch hooks count as they steer)."""
        ...
