"""Errors the user can act on. Each carries one readable line; the CLI and the window show it as is."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base for every error whose message is meant for the user (no traceback needed)."""


class ModelLoadError(WorkbenchError):
    """The model could not be found, read or downloaded."""


class SaeLoadError(WorkbenchError):
    """The SAE could not be loaded, or it does not fit the loaded model."""


class SteeringError(WorkbenchError):
    """A steering edit is invalid for the loaded model and SAEs (layer, feature id, units)."""


class InputError(WorkbenchError):
    """Malformed user input (an EDITS string, a sampling setting, a text file)."""


class Cancelled(WorkbenchError):
    """The job was cancelled by the user."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


def describe_unexpected(exc: BaseException) -> str:
    """One readable line for an exception we did not raise ourselves (torch errors, out of memory)."""
    lines = str(exc).strip().splitlines()
    first = lines[0][:300] if lines else ""
    if "out of memory" in first.lower():
        return f"out of memory: {first} (try a smaller model, fewer variants, or fewer new tokens)"
    return f"unexpected {type(exc).__name__}: {first}"
