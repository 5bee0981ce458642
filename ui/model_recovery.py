"""When the model process dies (killed, out of memory) and when a model is refused for its size: one message in the
error banner with the way out as its button — Restart model (also in the Model menu) or Load anyway. While the
process is dead the Sweep and Compare tabs' run buttons are off, as Generate is.

A restart loads what was loaded when the process died: the same request (spec, device, dtype, backend, max memory,
memory-check override) and the SAEs that were loaded, under the same keys, so the session's edits still name them.
A load that was still running when it died is sent again as it was.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from workbench.host import CRASH_MESSAGE
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.memory_guard import is_memory_refusal

if TYPE_CHECKING:
    from ui.main_window import MainWindow

GONE = "model process ended"  # the banner and the Model menu say how to restart it


class ModelRecovery(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.restart_request: rq.LoadModel | None = None  # set while the process is dead, until a load starts
        self.loaded: rq.LoadModel | None = None  # the last load that finished
        self.restart_action = QAction("Restart model", window)
        self.restart_action.setToolTip("Load the model and SAEs again after the model process ended")
        self.restart_action.setEnabled(False)
        self.restart_action.triggered.connect(lambda _checked=False: self.restart())
        c = window.client
        c.on(ev.HostCrashed, self._crashed)
        c.on(ev.JobFailed, self._failed)
        c.on(ev.ModelLoaded, lambda _e: self._forget())
        c.on(ev.JobFinished, self._finished)
        c.on(ev.JobCancelled, self._load_ended)

    def _crashed(self, event: ev.HostCrashed) -> None:
        w = self.window
        self.restart_request = self._what_was_loaded()
        self.restart_action.setEnabled(self.restart_request is not None)
        self._set_model_alive(False)
        w.model_panel.show_gone(GONE)
        action = ("Restart model", self.restart) if self.restart_request is not None else None
        w.banner.show_message(f"model process: {event.message}", action)

    def _what_was_loaded(self) -> rq.LoadModel | None:
        c = self.window.client
        end = c.last_end(rq.LoadModel)
        if isinstance(end, ev.JobFailed) and end.message == CRASH_MESSAGE:
            return c.last_load  # it died while loading: load the same again
        load = self.loaded  # a load cancelled or refused since left this one in place
        if load is None:
            return None
        # SAEs came and went since it loaded (added, removed, a session's keys): bring back those there were.
        saes = self.window.saes
        return replace(load, saes=tuple(s.source for s in saes), keys=tuple(s.key for s in saes))

    def _finished(self, event: ev.JobFinished) -> None:
        if isinstance(event.request, rq.LoadModel):
            self.loaded = event.request

    def restart(self) -> None:
        request, self.restart_request = self.restart_request, None
        self.restart_action.setEnabled(False)
        if request is not None:
            self.window.banner.hide()
            self.window.send_load(request)

    def _forget(self) -> None:
        self.restart_request = None
        self.restart_action.setEnabled(False)
        self._set_model_alive(True)

    def _load_ended(self, event: ev.JobFailed | ev.JobCancelled) -> None:
        """A load that ended without a model still started a new process: requests reach it again (and fail
        there with a message, as before any model), so the buttons come back; a crash turns them off again."""
        crashed = isinstance(event, ev.JobFailed) and event.message == CRASH_MESSAGE
        if isinstance(event.request, rq.LoadModel) and not crashed:
            self._set_model_alive(True)

    def _set_model_alive(self, alive: bool) -> None:
        """Like Generate (ui/model_panel.py), the buttons of the Sweep and Compare tabs are off while the model
        process is dead: ModelClient drops what they would send until a load starts another."""
        self.window.sweeps.view.set_model_alive(alive)
        self.window.tools.compare.set_model_alive(alive)

    def _failed(self, event: ev.JobFailed) -> None:
        """A load refused because the model would not fit: offer to load it anyway (after the window's message)."""
        self._load_ended(event)
        request = event.request
        if isinstance(request, rq.LoadModel) and is_memory_refusal(event.message):
            anyway = replace(request, ignore_memory_check=True)
            self.window.banner.show_message(
                f"{request.label} failed: {event.message}", ("Load anyway", lambda: self.window.send_load(anyway))
            )
