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
from typing import Any, Protocol


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
