"""The File menu: new, open, open recent, save, save as; the questions they ask; the title; and closing.

Everything saved is read from the document (`Document.session()`), and opening hands the session to `show`,
which puts it into the document and loads what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence

from ui import session_dialogs as dialogs
from ui.autosave import Autosaver
from ui.recent import RecentSessions, fill_recent_menu
from workbench.document import FILE, HISTORY, Document, Update
from workbench.session import MissingFile, Session, SessionError, load_session, missing_files, save_session
from workbench.session.io import SESSION_SUFFIX

if TYPE_CHECKING:
    from ui.main_window import MainWindow

APP_TITLE = "Steering Workbench"
SESSION_SUFFIXES = (SESSION_SUFFIX, ".json")
RECORD_WAIT_MS = 10_000  # the longest a save waits for the record of a run that just finished

# Show a session: (session, its file or None, clean (False: recovered), open without the model, SAE keys to skip)
ShowSession = Callable[[Session, Path | None, bool, bool, frozenset[str]], None]


class FileActions(QObject):
    def __init__(
        self, window: MainWindow, document: Document, autosaver: Autosaver, show: ShowSession, new: Callable[[], None]
    ) -> None:
        super().__init__(window)
        self.window, self.document, self.autosaver = window, document, autosaver
        self._show, self._new = show, new
        self.recent = RecentSessions(window.settings)
        self._save_when_recorded: Path | None = None
        # Questions to the user, replaceable (tests answer them without a modal dialog).
        self.ask_unsaved: Callable[[], str] = lambda: dialogs.ask_unsaved(window, self._file_name())
        self.ask_open_path: Callable[[], str | None] = lambda: dialogs.ask_open_path(window, self._folder())
        self.ask_save_path: Callable[[], str | None] = lambda: dialogs.ask_save_path(window, self._save_start())
        self.locate: Callable[[MissingFile], str | None] = lambda m: dialogs.locate(window, m)
        self._was_modified = document.modified
        unsubscribe = document.subscribe(self._changed)
        self.destroyed.connect(lambda _o=None: unsubscribe())

    def install_menu(self) -> None:
        w = self.window
        file = w.menuBar().addMenu("&File")
        for text, keys, slot in (
            ("&New session", ["Ctrl+N"], self.new_session),
            ("&Open session…", ["Ctrl+O"], self.open_session),
            ("&Save", ["Ctrl+S"], self.save),
            ("Save &as…", ["Ctrl+Shift+S"], self.save_as),
        ):
            file.addAction(self._action(text, keys, slot))
            if keys == ["Ctrl+O"]:
                self.recent_menu = file.addMenu("Open &recent")
                self.recent_menu.aboutToShow.connect(self._fill_recent)
        file.addSeparator()
        file.addAction(self._action("&Quit", ["Ctrl+Q"], w.quit))

    def _action(self, text: str, keys: list[str], slot: Callable[[], object]) -> QAction:
        a = QAction(text, self.window)
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.triggered.connect(lambda _checked=False: slot())
        self.window.addAction(a)
        return a

    # -- the document's news ------------------------------------------------------------------------------------
    def _changed(self, update: Update) -> None:
        if update.changed & {"prompt", "chat", "settings", "plan", "sweeps", "sweep_runs"}:
            self.autosaver.changed()
        if HISTORY in update.changed:
            modified = self.document.modified
            self.window.setWindowModified(modified)
            if self._was_modified and not modified:
                self.autosaver.clear()  # back to the saved state: nothing to recover
            self._was_modified = modified
        if FILE in update.changed:
            self.update_title()

    def update_title(self) -> None:
        path = self.document.path
        name = path.stem if path is not None else "Untitled"
        if self.document.recovered:
            name += " (recovered)"
        self.window.setWindowTitle(f"{name}[*] — {APP_TITLE}")

    # -- new, open, recover -------------------------------------------------------------------------------------
    def new_session(self) -> bool:
        if not self.maybe_save():
            return False
        self._save_when_recorded = None
        self._new()
        self.autosaver.clear()
        return True

    def recover(self) -> bool:
        """Open the work a crashed or killed run left in the autosave slot, as an unsaved session."""
        if not self.maybe_save():
            return False
        session = self.autosaver.take()
        if session is None:
            return False
        located = self._locate_missing(session)
        if located is None:
            self.autosaver.check_pending()  # not now: the work stays in the slot and on offer
            return False
        self._save_when_recorded = None
        self._show(located[0], None, False, located[1], located[2])
        return True

    def open_session(self, path: str | Path | None = None) -> bool:
        """Open a session file: a bad file shows one message and changes nothing."""
        if not self.maybe_save():
            return False
        if path is None:
            path = self.ask_open_path()
            if not path:
                return False
        path = Path(path)
        try:
            session = load_session(path)
        except SessionError as exc:
            if not path.exists():
                self.recent.remove(str(path.resolve()))
            self.window.banner.show_message(f"open failed: {exc}")
            return False
        located = self._locate_missing(session)
        if located is None:
            return False
        self._save_when_recorded = None
        self._show(located[0], path, True, located[1], located[2])
        self.recent.add(path)
        return True

    def _locate_missing(self, session: Session) -> tuple[Session, bool, frozenset[str]] | None:
        """Ask for each missing model / SAE file; returns the session to open and what to open it without."""
        skip_model, skip_saes = False, set()
        for missing in missing_files(session):
            answer = self.locate(missing)
            if answer is None:
                return None
            if not answer:
                if missing.kind == "model":
                    skip_model = True
                else:
                    skip_saes.add(missing.key)
            elif missing.kind == "model":
                session = session.with_model_spec(answer)
            else:
                session = session.with_sae_spec(missing.key, answer)
        return session, skip_model, frozenset(skip_saes)

    # -- save ---------------------------------------------------------------------------------------------------
    def save(self) -> bool:
        path = self.document.path
        return self.save_to(path) if path is not None else self.save_as()

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            path = self.ask_save_path()
            if not path:
                return False
        target = Path(path)
        if target.suffix.lower() not in SESSION_SUFFIXES:
            target = target.with_name(target.name + SESSION_SUFFIX)
        return self.save_to(target)

    def save_to(self, path: Path, wait_for_record: bool = True) -> bool:
        """Write the session atomically (a failed save leaves the file as it was)."""
        w = self.window
        if wait_for_record and self.document.records.in_flight:
            # A run just finished and its record is on its way: save it with its outputs.
            self._save_when_recorded = path
            w.statusBar().showMessage("saving once the last run is recorded…")
            QTimer.singleShot(RECORD_WAIT_MS, self._save_anyway)  # a record that never comes must not lose the save
            return True
        session = self.document.session()
        if session is None:
            w.banner.show_message("cannot save yet: a session records its model, and none is loaded")
            return False
        try:
            save_session(path, session)
        except SessionError as exc:
            w.banner.show_message(f"save failed: {exc}")
            return False
        self.document.set_file(path)
        self.document.mark_saved()  # the undo history stays: a save is not a step
        self.recent.add(path)
        self.autosaver.clear()
        changed = not session.generated and self.document.state.run is not None
        w.statusBar().showMessage(f"saved {path}{' (without the outputs: changed since the run)' if changed else ''}")
        return True

    def record_settled(self) -> None:
        """A record arrived or failed: a save that waited for it goes ahead once none is on its way."""
        if not self.document.records.in_flight and self._save_when_recorded is not None:
            path, self._save_when_recorded = self._save_when_recorded, None
            self.save_to(path)

    def _save_anyway(self) -> None:
        if self._save_when_recorded is not None:
            path, self._save_when_recorded = self._save_when_recorded, None
            self.save_to(path, wait_for_record=False)

    # -- closing ------------------------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Before work would be replaced or closed: ask Save / Discard / Cancel if there are unsaved changes."""
        if not self.document.modified:
            return True
        answer = self.ask_unsaved()
        if answer == "discard":
            return True
        if answer == "save":
            path = self.document.path
            if path is None:
                asked = self.ask_save_path()
                if not asked:
                    return False
                path = Path(asked)
            return self.save_to(path, wait_for_record=False)
        return False

    def closing(self, ask: bool) -> bool:
        """The window is about to close: False keeps it open. Unsaved work nobody was asked about stays in the
        autosave slot for the next start."""
        if ask and not self.maybe_save():
            return False
        self.autosaver.closing(keep=self.document.modified and not ask)
        return True

    # -- names, folders, recent files ---------------------------------------------------------------------------
    def _file_name(self) -> str:
        return self.document.path.name if self.document.path is not None else "this session"

    def _folder(self) -> str:
        recent = self.recent.paths()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def _save_start(self) -> str:
        path = self.document.path
        return str(path) if path is not None else str(Path(self._folder()) / f"session{SESSION_SUFFIX}")

    def _fill_recent(self) -> None:
        gone = fill_recent_menu(self.recent_menu, self.recent, self.open_session)
        if gone:
            names = ", ".join(Path(p).name for p in gone)
            self.window.statusBar().showMessage(f"removed from the recent sessions (no longer there): {names}")


def session_file_in(mime: QMimeData) -> str | None:
    """The first local session file among dropped URLs, if any."""
    for url in mime.urls() if mime.hasUrls() else []:
        path = url.toLocalFile()
        if path and Path(path).suffix.lower() in SESSION_SUFFIXES:
            return path
    return None
