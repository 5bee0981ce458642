"""The recently opened or saved session files, newest first, kept in the app's QSettings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 8
KEY = "sessions/recent"


class RecentSessions:
    def __init__(self, settings: QSettings, limit: int = MAX_RECENT) -> None:
        self.settings, self.limit = settings, limit

    def paths(self) -> list[str]:
        value = self.settings.value(KEY)
        # QSettings hands back a str for a one-item list in INI files, and None when nothing is stored.
        items = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
        return [str(p) for p in items if str(p)]

    def add(self, path: str | Path) -> None:
        """Put `path` first (absolute, so the list still works from another working folder)."""
        path = str(Path(path).resolve())
        self._store([path, *(p for p in self.paths() if p != path)])

    def remove(self, path: str) -> None:
        self._store([p for p in self.paths() if p != path])

    def prune(self) -> list[str]:
        """Drop entries whose file is gone; returns the dropped paths (for a message)."""
        kept: list[str] = []
        gone: list[str] = []
        for p in self.paths():
            (kept if Path(p).is_file() else gone).append(p)
        if gone:
            self._store(kept)
        return gone

    def _store(self, paths: list[str]) -> None:
        self.settings.setValue(KEY, paths[: self.limit])
        self.settings.sync()


def fill_recent_menu(menu: QMenu, recent: RecentSessions, open_path: Callable[[str], object]) -> list[str]:
    """Rebuild `menu` from `recent` (missing files pruned first); returns the pruned paths."""
    menu.clear()
    gone = recent.prune()
    paths = recent.paths()
    for n, p in enumerate(paths, start=1):
        action = menu.addAction(f"&{n} {Path(p).name} — {Path(p).parent}")
        action.triggered.connect(lambda _checked=False, p=p: open_path(p))
    if not paths:
        menu.addAction("(none)").setEnabled(False)
    return gone
