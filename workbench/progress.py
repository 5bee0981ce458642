"""Progress of long jobs as plain data, without any GUI dependency: the Qt layer turns it into a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """How far a job is: `done` of `total` steps (total 0 = unknown), with a short phase description."""

    phase: str
    done: int = 0
    total: int = 0
    eta_s: float | None = None  # seconds left, for jobs that can estimate it (sweeps); None = unknown

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total > 0 else None


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """A progress callback that drops everything (for callers that do not show progress)."""
