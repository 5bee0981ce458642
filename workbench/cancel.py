"""The cancel flag that every long job checks at its yield points (between chunks, at every generated token)."""

from __future__ import annotations

import threading

from workbench.errors import Cancelled


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


def check(cancel: CancelToken | None) -> None:
    """Raise Cancelled if `cancel` (which may be None: nobody can cancel) was set."""
    if cancel is not None:
        cancel.raise_if_cancelled()
