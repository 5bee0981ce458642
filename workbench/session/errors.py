"""The one error a session file, a replay or an export raises for bad input: a single readable line."""

from __future__ import annotations

from workbench.errors import WorkbenchError


class SessionError(WorkbenchError):
    """A session file is unreadable, corrupt, foreign or too new; or what it names cannot be found or exported."""
