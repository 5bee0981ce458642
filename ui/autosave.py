"""Autosave and crash recovery: unsaved work is written to the autosave slot a few seconds after each change, the
slot is emptied when the window closes cleanly, and a slot found at start-up (a crash, a kill) is offered back.

It reads the document: what a save would write now goes to the slot. Writing the slot is an atomic write of a
small JSON file (milliseconds), so it runs on the GUI thread.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from ui.banner import RecoveryBanner
from workbench.document import Document
from workbench.session import Session, SessionError, autosave, clear_autosave, load_session, pending_autosave

AUTOSAVE_PAUSE_MS = 1500  # written once changes pause this long…
AUTOSAVE_MAX_DELAY_MS = 5000  # …and never later than this after the first unwritten change


class Autosaver(QObject):
    failed = Signal(str)  # one readable line (a bad slot, a write error)

    def __init__(
        self,
        banner: RecoveryBanner,
        document: Document,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.banner, self.document = banner, document
        self.pending: Path | None = None  # a slot left by an earlier run, while the user has not decided
        self.last_written: Path | None = None
        self.pause_ms, self.max_delay_ms = AUTOSAVE_PAUSE_MS, AUTOSAVE_MAX_DELAY_MS
        self._due: float | None = None  # monotonic time by which the first unwritten change must be written
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.save_now)
        banner.discardRequested.connect(self.discard)

    def check_pending(self) -> bool:
        """At start-up: offer the work an earlier run left unsaved. Until the user decides, nothing overwrites it."""
        self.pending = pending_autosave()
        if self.pending is None:
            return False
        when = datetime.fromtimestamp(self.pending.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        self.banner.offer(f"Unsaved work from {when} was found: the app did not close normally last time.")
        return True

    def changed(self) -> None:
        """Something the session holds changed: write the slot soon (each change pushes the write back)."""
        if self.pending is None and self.document.modified:
            now = time.monotonic()
            if self._due is None:
                self._due = now + self.max_delay_ms / 1000
            # Wait for a pause in the changes, but not past the deadline (steady typing must not delay it).
            self.timer.start(max(0, min(self.pause_ms, round((self._due - now) * 1000))))

    def save_now(self) -> Path | None:
        self.timer.stop()
        self._due = None
        if self.pending is not None or not self.document.modified:
            return None
        session = self.document.session()
        if session is None:
            return None  # no model recorded yet: nothing a session could hold
        try:
            self.last_written = autosave(session)
        except SessionError as exc:
            self.failed.emit(f"autosave failed: {exc}")
            return None
        return self.last_written

    def take(self) -> Session | None:
        """The pending work, read back (None if there is none or it cannot be read: said via `failed`)."""
        path, self.pending = self.pending, None
        self.banner.hide()
        if path is None:
            return None
        try:
            return load_session(path)
        except SessionError as exc:
            clear_autosave()  # unreadable: offering it at every start would not make it readable
            self.failed.emit(f"the unsaved work cannot be recovered: {exc}")
            return None

    def discard(self) -> None:
        self.pending = None
        self.banner.hide()
        clear_autosave()
        self.changed()

    def clear(self) -> None:
        """The work is safe (saved, or back to the saved state, or closed cleanly): empty the slot."""
        self.timer.stop()
        self._due = None
        if self.pending is None:
            clear_autosave()

    def closing(self, keep: bool) -> None:
        """The window closes: `keep` the unsaved work for the next start (a close nobody was asked about)."""
        if keep:
            self.save_now()
        else:
            self.clear()
