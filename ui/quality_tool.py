"""The quality panel's window: a dialog (Model > SAE quality…) wired to the model process. It asks for
rq.SaeQuality, shows its progress and report, cancels it, and gives each measured SAE its FVE badge in the
model panel's SAE list. Made on first use, then kept (its last report stays while the window lives)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QVBoxLayout

from ui.quality_view import QualityView
from workbench.jobs import events as ev
from workbench.jobs import requests as rq

if TYPE_CHECKING:
    from ui.main_window import MainWindow

OBJECT_NAME = "saeQualityDialog"


class QualityDialog(QDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName(OBJECT_NAME)
        self.setWindowTitle("SAE quality")
        self.resize(780, 760)
        self.view = QualityView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.view)
        self.client, self.model_panel = window.client, window.model_panel
        self.job: int | None = None  # the quality job whose progress this view shows
        self.view.set_saes(window.saes)
        c = self.client
        c.on(ev.SaesChanged, lambda e: self.view.set_saes(list(e.saes)))
        c.on(ev.SaeQualityReady, self._ready)
        c.on(ev.ProgressMade, self._progress)
        c.on(ev.JobFinished, self._ended)
        c.on(ev.JobFailed, self._ended)
        c.on(ev.JobCancelled, self._ended)
        self.view.requested.connect(self._send)
        self.view.cancelRequested.connect(lambda: c.cancel(rq.SaeQuality))

    def _send(self, request: rq.SaeQuality) -> None:
        job = self.client.send(request)
        if job is None:
            self.view.idle("no model: load one first")
            return
        self.job = job.id

    def _ready(self, event: ev.SaeQualityReady) -> None:
        report = event.report
        self.view.show_report(report)
        self.model_panel.show_measured_fve(event.sae_key, report.metrics.fve, report.texts)

    def _progress(self, event: ev.ProgressMade) -> None:
        if event.job == self.job and event.progress.phase != "ready":
            self.view.show_progress(event.progress)

    def _ended(self, event: ev.JobFinished | ev.JobFailed | ev.JobCancelled) -> None:
        if not isinstance(event.request, rq.SaeQuality) or event.job != self.job:
            return
        self.job = None
        if isinstance(event, ev.JobCancelled):
            self.view.idle("cancelled")
        elif isinstance(event, ev.JobFailed):
            self.view.idle(f"failed: {event.message}")
            self.view.progress.setToolTip(event.message)
        else:
            self.view.idle("done")


def open_quality(window: MainWindow) -> QualityDialog:
    """Show the window's quality dialog (made on first use)."""
    found = window.findChild(QDialog, OBJECT_NAME)
    dialog = found if isinstance(found, QualityDialog) else QualityDialog(window)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
