"""The Sweep view wired to the model process and the document.

How a sweep travels: Run builds a `SweepSpec` in the form → `StartSweep` puts it into the document (an undo step)
→ `RunSweep` goes to the model process → `SweepStarted`, one `SweepRowsReady` per finished row and `SweepEnded`
come back, and each lands in the document (`set_sweep_run`, no undo step) → the view redraws from the document
(at most a few times a second) → save and autosave write the sweep with its rows into the session. Which sweep an
event belongs to is its `sweep_id`; how a job ended is decided by its request, never by a label string.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QStatusBar, QTabWidget

from ui.feature_search import FeatureSearch
from ui.inspector import InspectorPanel
from ui.model_client import ModelClient
from ui.steering_panel import SteeringPanel
from ui.sweep_view import SweepView
from workbench.document import Document, Update
from workbench.document.sweep_commands import RemoveSweep, SetSweepThresholds, StartSweep, use_setting
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.saes.loader import SaeSummary
from workbench.session.sweeps import CANCELLED, DONE, FAILED, RUNNING, SavedSweep
from workbench.steering.plan import FeatureEdit
from workbench.sweeps.spec import SweepSpec
from workbench.sweeps.summary import Thresholds

REDRAW_MS = 150  # rows arriving faster than this are drawn together


class SweepTools:
    def __init__(  # the feature tools' parts (ui/feature_tools.py), then the document and the feature search
        self,
        client: ModelClient,
        inspector: InspectorPanel,
        steering: SteeringPanel,
        _model_panel: object,
        tabs: QTabWidget,
        status: QStatusBar,
        document: Document,
        search: FeatureSearch,
    ) -> None:
        self.document, self.client, self.steering, self.tabs, self.status = document, client, steering, tabs, status
        self.view = SweepView()
        tabs.addTab(self.view, "Sweep")
        tabs.setTabToolTip(tabs.indexOf(self.view), "Strength × layer × prompt sweeps: where a feature steers")
        self.form = self.view.form
        self.saes: list[SaeSummary] = []
        self.shown: str | None = None  # the sweep the view shows
        self.running: str | None = None  # the sweep whose job runs
        self._jobs: dict[int, str] = {}  # job id → sweep id
        self._totals: dict[str, int] = {}  # sweep id → rows in its grid
        self._redraw = QTimer(self.view)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.draw)

        c = client
        c.on(ev.SaesChanged, lambda e: self._saes_changed(list(e.saes)))
        c.on(ev.SweepStarted, self._started)
        c.on(ev.SweepRowsReady, self._rows_ready)
        c.on(ev.SweepEnded, self._run_ended)
        c.on(ev.ProgressMade, self._progress)
        c.on(ev.JobFinished, self._job_ended)
        c.on(ev.JobFailed, self._job_ended)
        c.on(ev.JobCancelled, self._job_ended)
        c.on(ev.HostCrashed, lambda _e: self._stopped(FAILED, "the model process ended"))
        inspector.sweepRequested.connect(self.open_feature)
        search.sweepRequested.connect(self.open_feature)
        self.form.runRequested.connect(self.run)
        self.form.stopRequested.connect(lambda: c.cancel(rq.RunSweep))
        self.form.fromEditRequested.connect(self._from_selected_edit)
        self.form.thresholdsChanged.connect(self._thresholds_changed)
        self.view.sweepChosen.connect(self._choose)
        self.view.resumeRequested.connect(self.resume)
        self.view.removeRequested.connect(self.remove)
        self.view.useRequested.connect(self.use_setting)
        unsubscribe = document.subscribe(self._document_changed)
        self.view.destroyed.connect(lambda _o=None: unsubscribe())

    # -- the user's asks ----------------------------------------------------------------------------------------
    def open_feature(self, sae_key: str, feature: int) -> None:
        """The inspector's or the search's "Sweep…": this feature in the form, the Sweep tab in front."""
        self.form.set_feature(sae_key, feature)
        self.tabs.setCurrentWidget(self.view)

    def run(self, spec: SweepSpec) -> None:
        """A new sweep in the document (an undo step), and its job."""
        if self.running is not None:
            return
        sweep = SavedSweep(uuid.uuid4().hex[:12], spec, self.form.thresholds())
        self.document.execute(StartSweep(sweep))
        self.document.close_step()
        self.shown = sweep.id
        self._send(sweep.id, spec)

    def resume(self, sweep_id: str) -> None:
        sweep = self.document.state.sweep(sweep_id)
        if sweep is not None and self.running is None:
            self._send(sweep_id, sweep.spec)

    def _send(self, sweep_id: str, spec: SweepSpec) -> None:
        job = self.client.send(rq.RunSweep(sweep_id, spec))
        if job is None:
            return
        self._jobs[job.id] = sweep_id
        self.running = sweep_id
        self._set_status(sweep_id, RUNNING)
        self.form.set_running(True)
        self.form.show_status("starting (other model jobs wait while a sweep runs)…")
        self.draw()

    def remove(self, sweep_id: str) -> None:
        state = self.document.state
        index = next((i for i, s in enumerate(state.sweeps) if s.id == sweep_id), None)
        if index is None:
            return
        if sweep_id == self.running:
            self.client.cancel(rq.RunSweep)
        self.document.execute(RemoveSweep(index, state.sweeps[index]))

    def _thresholds_changed(self, thresholds: Thresholds) -> None:
        sweep = self.document.state.sweep(self.shown) if self.shown else None
        if sweep is not None and sweep.thresholds != thresholds:
            self.document.execute(SetSweepThresholds(sweep.id, sweep.thresholds, thresholds))

    def use_setting(self, sweep_id: str, sae: str, strength: float) -> None:
        """The cell's feature and strength into the steering panel's selected variant (one undo step)."""
        state = self.document.state
        sweep = state.sweep(sweep_id)
        row = next((r for r in sweep.run.rows if (r.sae, r.strength) == (sae, strength)), None) if sweep else None
        if sweep is None or row is None or row.layer is None or row.feature is None:
            return
        several = sum(1 for s in self.saes if s.layer == row.layer) > 1
        edit = FeatureEdit(
            layer=row.layer,
            feature=row.feature,
            strength=strength,
            mode=sweep.spec.mode,
            unit=sweep.spec.unit,
            sae=sae if several else None,
        )
        names, n = set(state.plan.names), len(state.plan.variants)
        while f"variant {n}" in names:
            n += 1
        command = use_setting(state, self.steering.selected, edit, f"variant {n}")
        self.document.execute(command)
        self.status.showMessage(f"{command.label} (Edit > Undo takes it back)")

    def _from_selected_edit(self) -> None:
        plan = self.document.state.plan
        variant = plan.variants[min(self.steering.selected, len(plan.variants) - 1)]
        edit = next((e for e in variant.edits if e.feature is not None), None)
        if edit is None or edit.feature is None:
            self.status.showMessage("the selected variant has no feature edit to sweep")
            return
        key = edit.sae or next((s.key for s in self.saes if s.layer == edit.layer), None)
        if key is not None:
            self.form.set_feature(key, edit.feature)

    def _choose(self, sweep_id: str) -> None:
        self.shown = sweep_id
        self.view.cell = None
        self.draw()

    # -- the model process's news -------------------------------------------------------------------------------
    def _saes_changed(self, saes: list[SaeSummary]) -> None:
        self.saes = saes
        self.form.set_saes(saes)
        self.form.set_running(self.running is not None, ready=bool(saes))

    def _wanted(self, sweep_id: str) -> bool:
        """False for a sweep the document no longer knows (another session was opened): its job is stopped."""
        if sweep_id in self.document.state.sweep_runs:
            return True
        self.client.cancel(rq.RunSweep)
        return False

    def _started(self, event: ev.SweepStarted) -> None:
        if not self._wanted(event.sweep_id):
            return
        self._totals[event.sweep_id] = event.rows_total
        run = self.document.state.sweep_runs[event.sweep_id]
        self.document.set_sweep_run(event.sweep_id, replace(run, targets=event.targets, status=RUNNING))
        self.document.mark_unsaved()  # its rows are work to save (and autosave)

    def _rows_ready(self, event: ev.SweepRowsReady) -> None:
        if self._wanted(event.sweep_id):
            run = self.document.state.sweep_runs[event.sweep_id]
            self.document.set_sweep_run(event.sweep_id, run.with_rows(event.rows))

    def _run_ended(self, event: ev.SweepEnded) -> None:
        if self._wanted(event.sweep_id):
            run = self.document.state.sweep_runs[event.sweep_id]
            status = CANCELLED if event.cancelled else DONE
            self.document.set_sweep_run(event.sweep_id, replace(run, drift=event.drift, status=status))
            self.document.mark_unsaved()

    def _progress(self, event: ev.ProgressMade) -> None:
        if self._jobs.get(event.job) == self.running and event.progress.phase != "ready":
            self.form.show_progress(event.progress)

    def _job_ended(self, event: ev.JobFinished | ev.JobFailed | ev.JobCancelled) -> None:
        sweep_id = self._jobs.pop(event.job, None)
        if sweep_id is None or not isinstance(event.request, rq.RunSweep):
            return
        if isinstance(event, ev.JobFailed):
            self._set_status(sweep_id, FAILED)
            self._stopped(FAILED, event.message)
        elif isinstance(event, ev.JobCancelled):
            self._set_status(sweep_id, CANCELLED)
            self._stopped(CANCELLED, "stopped: finished rows are kept; Resume runs the rest")
        else:
            self._stopped(DONE, "done")

    def _stopped(self, status: str, text: str) -> None:
        if self.running is not None and status == FAILED:
            self._set_status(self.running, FAILED)
        self.running = None
        self.form.set_running(False, ready=bool(self.saes))
        self.form.show_status(f"sweep {text}" if status != DONE else "sweep done", done=status == DONE)
        self.draw()

    def _set_status(self, sweep_id: str, status: str) -> None:
        run = self.document.state.sweep_runs.get(sweep_id)
        if run is not None and run.status != status and not (status != RUNNING and run.status == DONE):
            self.document.set_sweep_run(sweep_id, replace(run, status=status))

    # -- drawing ------------------------------------------------------------------------------------------------
    def _document_changed(self, update: Update) -> None:
        if update.changed & {"sweeps", "sweep_runs"} and not self._redraw.isActive():
            self._redraw.start()

    def draw(self) -> None:
        state = self.document.state
        ids = [s.id for s in state.sweeps]
        if self.shown not in ids:
            self.shown = ids[-1] if ids else None
        self.view.set_sweeps(list(state.sweeps), self.shown)
        sweep = state.sweep(self.shown) if self.shown else None
        totals = [self._totals[self.shown]] if self.shown in self._totals else []
        self.view.show_sweep(sweep, totals, running=self.running is not None and self.running == self.shown)
