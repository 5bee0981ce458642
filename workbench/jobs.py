"""Cancellation and progress for long jobs, without any GUI dependency.

Long work checks a :class:`CancelToken` at its yield points (between phases, at every generated token) and
reports :class:`Progress` through a plain callback; the Qt layer turns those callbacks into signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from workbench.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """How far a job is: `done` of `total` steps (total 0 = unknown), with a short phase description."""

    phase: str
    done: int = 0
    total: int = 0

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total > 0 else None


ProgressCallback = Callable[[Progress], None]


def ignore_progress(_: Progress) -> None:
    """A progress callback that drops everything (for callers that do not show progress)."""


class CancelToken:
    """Thread-safe cancel flag. The requester calls `cancel()`; the worker calls `raise_if_cancelled()`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()
