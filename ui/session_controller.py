"""The window's session: the document's File and Edit menus, autosave and recovery, and what the model process
records for saving (see `workbench.document.records`); reopening a session's model, SAEs, plan and outputs.

The state itself lives in the document (`window.document`): the panels send it commands and redraw from it,
and save and autosave read it. This controller only connects it to the model client and the window.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from ui.autosave import Autosaver
from ui.autosave_failures import AutosaveFailures
from ui.banner import RecoveryBanner
from ui.edit_menu import EditActions
from ui.file_actions import FileActions
from workbench.document import DocumentState
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.session import SaeRecord, Session
from workbench.session.record import changed_since
from workbench.session.replay import compare_panes, summarise_panes

if TYPE_CHECKING:
    from ui.main_window import MainWindow

RECORD_DELAY_MS = 200  # SAEs arrive one by one while a model loads: record once they have settled


class SessionController(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.document = window.document
        self._analysis_after_load = False
        self._opened: Session | None = None  # an opened session whose weights are not yet compared with the loaded
        self.recovery = RecoveryBanner()
        self.autosaver = Autosaver(self.recovery, self.document, self)
        self.edit = EditActions(self.document, window)
        self.files = FileActions(window, self.document, self.autosaver, self.show_session, self._new)
        self._record_timer = QTimer(self)
        self._record_timer.setSingleShot(True)
        self._record_timer.setInterval(RECORD_DELAY_MS)
        self._record_timer.timeout.connect(self.request_record)
        c = window.client
        c.on(ev.SessionRecorded, lambda e: self._recorded(e.session))
        c.on(ev.SaesChanged, lambda _e: self._record_timer.start())
        c.on(ev.JobFailed, self._job_ended)
        c.on(ev.JobCancelled, self._job_ended)
        c.on(ev.HostCrashed, lambda _e: self.document.records.unloaded())
        self.recovery.recoverRequested.connect(self.files.recover)
        self.autosave_failures = AutosaveFailures(self.autosaver, window.banner, window.statusBar())  # one banner
        # First, before anything could write or clear the slot: the work a crashed run left there.
        self.autosaver.check_pending()

    def install_menus(self) -> None:
        self.files.install_menu()
        edit = self.window.menuBar().addMenu("&Edit")
        for a in (self.edit.undo_action, self.edit.redo_action):
            self.window.addAction(a)
            edit.addAction(a)

    def start(self) -> None:
        """The window is built and its last choices restored: that state is the untouched new session."""
        self.document.reset()
        self.files.update_title()

    # The window's entry points (File > Open by drop, closing).
    def open_session(self, path: str | Path | None = None) -> bool:
        return self.files.open_session(path)

    def closing(self, ask: bool) -> bool:
        return self.files.closing(ask)

    # -- recording (the model process builds the base) ----------------------------------------------------------
    def request_record(self) -> None:
        w, state = self.window, self.document.state
        if w.info is None:
            return
        run = state.run
        if run is not None:
            request = rq.RecordSession(run.prompt, run.plan, run.result.settings, run.chat, run.result)
        else:
            request = rq.RecordSession(state.prompt, state.plan, state.settings, state.chat)
        if w.client.send(request) is not None:
            self.document.records.asked()

    def _recorded(self, session: Session) -> None:
        if self.document.records.arrived(session):
            self.autosaver.changed()
            self._compare_weights(session)
        if self._analysis_after_load:
            self._analysis_after_load = False
            self.window.request_analysis()  # the opened session's SAEs are in: its heatmaps can be computed
        self.files.record_settled()

    def _compare_weights(self, loaded: Session) -> None:
        """Once the opened session's SAEs are loaded, say if their weights (or the model's) are not the ones it was
        recorded with: the model process hashed them for this record, so the window reads no file."""
        opened = self._opened
        if opened is None or not {s.key for s in opened.saes} <= {s.key for s in loaded.saes}:
            return  # SAEs arrive one by one: compare when all are in
        self._opened = None
        notes = changed_since(opened, loaded)
        if notes:
            self.window.banner.show_message("; ".join(notes))

    def _job_ended(self, event: ev.JobFailed | ev.JobCancelled) -> None:
        """A record that failed or was cancelled still ends its wait; a failed load leaves nothing loaded."""
        if isinstance(event.request, rq.RecordSession):
            self.document.records.failed()
            self.files.record_settled()  # with the record there is (its outputs may be missing)
        elif isinstance(event.request, rq.LoadModel):
            self.document.records.unloaded()

    def generated(self) -> None:
        """A run finished (the document shows it): new outputs are unsaved work."""
        self.document.mark_unsaved()
        self._compare_with_recording()
        self.document.records.ran()  # the panes hold this run's outputs now
        self.request_record()

    def _compare_with_recording(self) -> None:
        """A finished run of exactly the opened session's inputs replays it: say whether the tokens are the same
        (the point of saving a session is getting them again next week)."""
        run = self.document.state.run
        recording = self.document.records.replayed(run) if run is not None else None
        if run is None or recording is None:
            return
        bar, message = self.window.statusBar(), summarise_panes(compare_panes(recording.outputs, run.result.panes))
        bar.showMessage(f"{bar.currentMessage()} · replay: {message}")

    def model_loading(self) -> None:
        """A model load started: what was recorded as loaded no longer is."""
        self.document.records.unloaded()

    # -- showing a session --------------------------------------------------------------------------------------
    def _new(self) -> None:
        """File > New: an empty prompt and plan; the loaded model stays."""
        doc = self.document
        self._replacing_session()
        doc.reset(DocumentState(model=doc.state.model))
        doc.records.emptied()
        doc.set_file(None)
        self.window.show_run()

    def show_session(
        self,
        session: Session,
        path: Path | None,
        clean: bool,
        skip_model: bool = False,
        skip_saes: frozenset[str] = frozenset(),
    ) -> None:
        """Show `session` (opened from `path`, or recovered when `clean` is False) and load what it needs."""
        w, doc = self.window, self.document
        w.banner.hide()
        self._replacing_session()
        doc.reset(DocumentState.of(session, doc.state.model), clean=clean)
        doc.records.opened(session)
        self._opened = replace(session, saes=tuple(s for s in session.saes if s.key not in skip_saes))
        doc.set_file(path, recovered=not clean)
        w.show_run()
        if not clean:
            self.autosaver.save_now()  # recovered work is in no file: keep it in the slot at once
        if skip_model:
            self._opened = None
            w.statusBar().showMessage(f"opened without its model ({session.model.spec} was not found)")
            return
        if self._load_for(session, [s for s in session.saes if s.key not in skip_saes]):
            self._analysis_after_load = True
        else:
            if doc.records.loaded is not None:  # nothing reloads: what is loaded was recorded already
                self._compare_weights(doc.records.loaded)
            w.request_analysis()

    def _replacing_session(self) -> None:
        """Another session is about to be shown: a run or records still on their way belong to the old one."""
        self.window.abandon_run()
        self.document.records.replacing()
        self._analysis_after_load = False
        self._opened = None

    def _load_for(self, session: Session, saes: list[SaeRecord]) -> bool:
        """Load the session's model and SAEs (under the keys its edits name) unless they are what is loaded
        already; True if loading."""
        w, records = self.window, self.document.records
        loaded = records.loaded
        specs, keys = [s.spec for s in saes], [s.key for s in saes]
        same_model = (session.model.spec, session.environment.backend)
        if loaded is not None and (loaded.model.spec, loaded.environment.backend) == same_model:
            if [s.spec for s in loaded.saes] == specs and [s.key for s in loaded.saes] == keys:
                return False
            records.unloaded()
            for s in loaded.saes:
                w.client.send(rq.RemoveSae(s.key))
            for spec, key in zip(specs, keys, strict=True):
                w.client.send(rq.AddSae(spec, key))
            return True
        choice = self.document.state.model
        w.load_model(session.model.spec, choice.device, choice.dtype, session.environment.backend, specs, keys)
        return True
