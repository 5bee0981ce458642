"""The window's session: File (new, open, save, recent) and Edit (undo, redo) menus, the title, autosave and
recovery, and reopening a session's model, SAEs, plan and outputs.

Saving needs the model's side (weight hashes, the device, each edit's unit scales), so the model process
records a Session whenever the model, the SAEs or the outputs change (`base`). Save and autosave then put the
current editor state into that record on the GUI thread: instant, and possible while the model is busy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence

from ui import session_dialogs as dialogs
from ui.autosave import Autosaver
from ui.banner import RecoveryBanner
from ui.recent import RecentSessions, fill_recent_menu
from ui.session_state import EditorState, result_of, session_with_state
from ui.undo import UndoTracker
from ui.worker import RECORD_LABEL
from workbench.models.sampling import SamplingSettings
from workbench.session import (
    MissingFile,
    SaeRecord,
    Session,
    SessionError,
    load_session,
    missing_files,
    save_session,
)
from workbench.session.io import SESSION_SUFFIX
from workbench.session.model import AnalysisValue
from workbench.session.replay import compare_panes, summarise_panes
from workbench.steering.plan import SteeringPlan, Variant

if TYPE_CHECKING:
    from ui.main_window import MainWindow

APP_TITLE = "Steering Workbench"
SESSION_SUFFIXES = (SESSION_SUFFIX, ".json")
RECORD_DELAY_MS = 200  # SAEs arrive one by one while a model loads: record once they have settled
RECORD_WAIT_MS = 10_000  # the longest a save waits for the record of a run that just finished


class SessionController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.path: Path | None = None
        self.recovered = False
        self.base: Session | None = None  # model, SAEs and environment to save with (and outputs, if any)
        self.loaded: Session | None = None  # the model process's last record: what is loaded now
        # The opened session, if it has outputs: a run of exactly its inputs is a replay. While its outputs are
        # the ones shown (`showing_recording`), a fresh record keeps their provenance.
        self.recording: Session | None = None
        self.showing_recording = False
        self.records_in_flight = 0
        self._stale_records = 0  # records in flight that were asked for before the shown session changed
        self._analysis_after_load = False
        self._save_when_recorded: Path | None = None
        self.recent = RecentSessions(window.settings)
        # Questions to the user, replaceable (tests answer them without a modal dialog).
        self.ask_unsaved: Callable[[], str] = lambda: dialogs.ask_unsaved(window, self._file_name())
        self.ask_open_path: Callable[[], str | None] = lambda: dialogs.ask_open_path(window, self._folder())
        self.ask_save_path: Callable[[], str | None] = lambda: dialogs.ask_save_path(window, self._save_start())
        self.locate: Callable[[MissingFile], str | None] = lambda m: dialogs.locate(window, m)

        self.tracker = UndoTracker(self.editor_state, self.apply_state, self)
        self.recovery = RecoveryBanner()
        self.autosaver = Autosaver(self.recovery, self.current_session, self.modified, self)
        self._record_timer = QTimer(self)
        self._record_timer.setSingleShot(True)
        self._record_timer.setInterval(RECORD_DELAY_MS)
        self._record_timer.timeout.connect(self.request_record)
        self._wire()
        # First, before anything could write or clear the slot: the work a crashed run left there.
        self.autosaver.check_pending()

    # -- wiring -------------------------------------------------------------------------------------------------
    def _wire(self) -> None:
        w, t = self.window, self.tracker
        w.steering.planChanged.connect(lambda _p: t.note_change())
        w.steering.dragStarted.connect(t.begin_gesture)
        w.steering.dragFinished.connect(t.end_gesture)
        w.generation.changed.connect(t.note_change)
        t.stateChanged.connect(self.autosaver.changed)
        t.stack.cleanChanged.connect(self._clean_changed)
        w.worker.sessionRecorded.connect(self._recorded)
        w.worker.saesChanged.connect(lambda _s: self._record_timer.start())
        w.worker.failed.connect(self._record_failed)
        w.worker.cancelled.connect(lambda label: self._record_failed(label, "cancelled"))
        self.recovery.recoverRequested.connect(self.recover)
        self.autosaver.failed.connect(w.banner.show_message)

    def install_menus(self) -> None:
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
        edit = w.menuBar().addMenu("&Edit")
        self.undo_action = self.tracker.stack.createUndoAction(w, "Undo")
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = self.tracker.stack.createRedoAction(w, "Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for a in (self.undo_action, self.redo_action):
            w.addAction(a)
            edit.addAction(a)

    def _action(self, text: str, keys: list[str], slot: Callable[[], object]) -> QAction:
        a = QAction(text, self.window)
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.triggered.connect(lambda _checked=False: slot())
        self.window.addAction(a)
        return a

    def start(self) -> None:
        """The window is built and its last choices restored: that state is the untouched new session."""
        self.tracker.reset()
        self._update_title()

    # -- editor state -------------------------------------------------------------------------------------------
    def editor_state(self) -> EditorState:
        g = self.window.generation
        return EditorState(g.prompt.toPlainText(), g.chat.isChecked(), g.settings(), self.window.steering.plan)

    def apply_state(self, state: EditorState) -> None:
        steering = self.window.steering
        old = steering.plan.variants
        new = state.plan.variants
        # Show the variant the step changed: undoing a slider move should show that slider.
        changed = next((i for i in range(len(new)) if i >= len(old) or old[i] != new[i]), None)
        select = steering.selected if changed is None else min(changed, len(new) - 1)
        if state.plan != steering.plan:
            steering.set_plan(state.plan, select=select)
        self.window.generation.set_inputs(state.prompt, state.chat, state.settings)

    def modified(self) -> bool:
        return not self.tracker.stack.isClean()

    def analysis(self) -> dict[str, AnalysisValue]:
        heatmap = self.window.heatmap
        anchor = heatmap.anchor
        shown: dict[str, AnalysisValue] = {
            "heatmap_pane": heatmap.pane_combo.currentData(),
            "heatmap_sae": heatmap.sae_combo.currentData(),
            "selected_sae": anchor[0] if anchor else None,
            "selected_feature": anchor[1] if anchor else None,
        }
        # Selections an opened session made that cannot show yet (their SAE is still loading) are kept.
        return {**self.window.wanted_analysis, **{k: v for k, v in shown.items() if v is not None}}

    def current_session(self) -> Session | None:
        """The session as it would be saved now (None until a model was recorded or a session opened)."""
        if self.base is None:
            return None
        created = datetime.now(UTC).isoformat(timespec="seconds")
        return session_with_state(self.base, self.editor_state(), self.analysis(), created)

    # -- recording (the model process builds the base) ----------------------------------------------------------
    def request_record(self) -> None:
        w = self.window
        if w.info is None:
            return
        if w.last_result is not None and w.last_plan is not None:
            job = w.worker.record(w.last_prompt, w.last_plan, w.last_result.settings, w.last_chat, w.last_result)
        else:
            state = self.editor_state()
            job = w.worker.record(state.prompt, state.plan, state.settings, state.chat)
        if job is not None:
            self.records_in_flight += 1

    def _recorded(self, session: Session) -> None:
        self.loaded = session
        if self._take_record():
            if self.showing_recording and self.recording is not None:
                session = session.with_provenance_of(self.recording)
            self.base = session
            self.autosaver.changed()
        if self._analysis_after_load:
            self._analysis_after_load = False
            self.window.request_analysis()  # the opened session's SAEs are in: its heatmaps can be computed
        self._save_if_waiting()

    def _take_record(self) -> bool:
        """A record arrived or failed. False when it was asked for before another session was shown: it
        still tells what is loaded, but its prompt, plan and outputs are not this session's."""
        self.records_in_flight = max(0, self.records_in_flight - 1)
        fresh = self._stale_records == 0
        self._stale_records = max(0, self._stale_records - 1)
        return fresh

    def _save_if_waiting(self) -> None:
        if not self.records_in_flight and self._save_when_recorded is not None:
            path, self._save_when_recorded = self._save_when_recorded, None
            self.save_to(path)

    def _save_anyway(self) -> None:
        if self._save_when_recorded is not None:
            path, self._save_when_recorded = self._save_when_recorded, None
            self.save_to(path, wait_for_record=False)

    def _record_failed(self, what: str, _message: str) -> None:
        if what == RECORD_LABEL:
            self._take_record()
            self._save_if_waiting()  # with the record there is (its outputs may be missing)
        elif what in ("model process", "load model"):
            self.loaded = None

    def generated(self) -> None:
        """A run finished (the window holds it as its last result): new outputs are unsaved work."""
        self.tracker.stack.resetClean()
        self._compare_with_recording()
        self.showing_recording = False  # the panes hold this run's outputs now
        self.request_record()

    def _compare_with_recording(self) -> None:
        """A finished run of exactly the opened session's inputs replays it: say whether the tokens are the same
        (the point of saving a session is getting them again next week)."""
        w, result = self.window, self.window.last_result
        if self.recording is None or result is None or w.last_plan is None or result.cancelled:
            return
        state, outputs = EditorState.of(self.recording), self.recording.outputs
        if (w.last_prompt, w.last_chat, result.settings, w.last_plan) != (
            state.prompt.strip(),
            state.chat,
            state.settings,
            state.plan,
        ):
            return
        message = summarise_panes(compare_panes(outputs, result.panes))
        w.statusBar().showMessage(f"{w.statusBar().currentMessage()} · replay: {message}")

    def model_loading(self) -> None:
        """A model load started: what was recorded as loaded no longer is."""
        self.loaded = None

    # -- file actions -------------------------------------------------------------------------------------------
    def new_session(self) -> bool:
        if not self.maybe_save():
            return False
        state = EditorState("", True, SamplingSettings(), SteeringPlan.with_baseline(Variant("variant 1")))
        self._replacing_session()
        with self.tracker.restoring():
            self.apply_state(state)
        self.window.show_run(state.plan, None, "", True)
        self.base = self.base.without_outputs() if self.base is not None else None
        self.recording, self.showing_recording = None, False
        self._set_file(None, clean=True)
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
        session, skip_model, skip_saes = located
        self.show_session(session, None, clean=False, skip_model=skip_model, skip_saes=skip_saes)
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
        session, skip_model, skip_saes = located
        self.show_session(session, path, clean=True, skip_model=skip_model, skip_saes=skip_saes)
        self.recent.add(path)
        return True

    def show_session(
        self,
        session: Session,
        path: Path | None,
        clean: bool,
        skip_model: bool = False,
        skip_saes: frozenset[str] = frozenset(),
    ) -> None:
        """Show `session` (opened from `path`, or recovered when `clean` is False) and load what it needs."""
        w = self.window
        w.banner.hide()
        self._replacing_session()
        with self.tracker.restoring():
            self.apply_state(EditorState.of(session))
        w.show_run(session.plan, result_of(session), session.prompt, session.chat, dict(session.analysis))
        self.base = session
        self.recording = session if session.outputs else None
        self.showing_recording = self.recording is not None
        self._set_file(path, clean=clean)
        if not clean:
            self.autosaver.save_now()  # recovered work is in no file: keep it in the slot at once
        if skip_model:
            w.statusBar().showMessage(f"opened without its model ({session.model.spec} was not found)")
            return
        if self._load_for(session, [s for s in session.saes if s.key not in skip_saes]):
            self._analysis_after_load = True
        else:
            w.request_analysis()

    def _replacing_session(self) -> None:
        """Another session is about to be shown: a run or records still on their way belong to the old one."""
        self.window.abandon_run()
        self._stale_records = self.records_in_flight
        self._save_when_recorded = None
        self._analysis_after_load = False

    def _load_for(self, session: Session, saes: list[SaeRecord]) -> bool:
        """Load the session's model and SAEs (under the keys its edits name) unless they are what is loaded
        already; True if loading."""
        w, loaded = self.window, self.loaded
        specs, keys = [s.spec for s in saes], [s.key for s in saes]
        w.model_panel.spec.setEditText(session.model.spec)
        if loaded is not None and loaded.model.spec == session.model.spec:
            if [s.spec for s in loaded.saes] == specs and [s.key for s in loaded.saes] == keys:
                return False
            self.loaded = None
            for s in loaded.saes:
                w.worker.remove_sae(s.key)
            for spec, key in zip(specs, keys, strict=True):
                w.worker.add_sae(spec, key)
            return True
        device, dtype = w.model_panel.device.currentText(), w.model_panel.dtype.currentText()
        w.load_model(session.model.spec, device, dtype, specs, keys)
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

    def save(self) -> bool:
        return self.save_to(self.path) if self.path is not None else self.save_as()

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
        if wait_for_record and self.records_in_flight:
            # A run just finished and its record is on its way: save it with its outputs.
            self._save_when_recorded = path
            self.window.statusBar().showMessage("saving once the last run is recorded…")
            QTimer.singleShot(RECORD_WAIT_MS, self._save_anyway)  # a record that never comes must not lose the save
            return True
        session = self.current_session()
        if session is None:
            self.window.banner.show_message("cannot save yet: a session records its model, and none is loaded")
            return False
        try:
            save_session(path, session)
        except SessionError as exc:
            self.window.banner.show_message(f"save failed: {exc}")
            return False
        self.path, self.recovered = path, False
        self.tracker.stack.setClean()  # the undo history stays: a save is not a step
        self.window.setWindowModified(False)
        self._update_title()
        self.recent.add(path)
        self.autosaver.clear()
        note = (
            "" if session.generated or not self.window.last_result else " (without the outputs: changed since the run)"
        )
        self.window.statusBar().showMessage(f"saved {path}{note}")
        return True

    def _set_file(self, path: Path | None, clean: bool) -> None:
        """A new, opened or recovered session: its own title and an empty undo history."""
        self.path, self.recovered = path, not clean
        self.tracker.reset(clean=clean)
        self.window.setWindowModified(not clean)
        self._update_title()

    # -- closing ------------------------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Before work would be replaced or closed: ask Save / Discard / Cancel if there are unsaved changes."""
        if not self.modified():
            return True
        answer = self.ask_unsaved()
        if answer == "discard":
            return True
        if answer == "save":
            if self.path is None:
                path = self.ask_save_path()
                if not path:
                    return False
                return self.save_to(Path(path), wait_for_record=False)
            return self.save_to(self.path, wait_for_record=False)
        return False

    def closing(self, ask: bool) -> bool:
        """The window is about to close: False keeps it open. Unsaved work nobody was asked about stays in the
        autosave slot for the next start."""
        if ask and not self.maybe_save():
            return False
        keep = self.modified() and not ask
        self.autosaver.closing(keep=keep)
        return True

    # -- title, recent files, drops -----------------------------------------------------------------------------
    def _clean_changed(self, clean: bool) -> None:
        self.window.setWindowModified(not clean)
        if clean:
            self.autosaver.clear()  # back to the saved state: nothing to recover

    def _update_title(self) -> None:
        name = self.path.stem if self.path is not None else "Untitled"
        if self.recovered:
            name += " (recovered)"
        self.window.setWindowTitle(f"{name}[*] — {APP_TITLE}")

    def _file_name(self) -> str:
        return self.path.name if self.path is not None else "this session"

    def _folder(self) -> str:
        recent = self.recent.paths()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def _save_start(self) -> str:
        return str(self.path) if self.path is not None else str(Path(self._folder()) / f"session{SESSION_SUFFIX}")

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
