"""The window's tools for telling features apart, wired to the model process: the inspector's neighbours, the
Compare view (minimal pairs, contrast sets, differential steering), the warnings on a steered feature, and
label imports (Features menu, or a file dropped on the SAE list).

Every question is a typed request (workbench/jobs/requests.py) and every answer a typed event; which view a job's
progress and end belong to is decided by its request, never by a label string.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog, QStatusBar, QTabWidget, QWidget

from ui.compare_view import CompareView
from ui.inspector import InspectorPanel
from ui.model_client import ModelClient
from ui.model_panel import ModelPanel
from ui.steering_panel import SteeringPanel
from workbench.analysis.inspect import FeatureCard
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary

COMPARE_REQUESTS = (rq.MinimalPair, rq.ContrastSets, rq.Selectivity)
LABEL_FILTER = "Feature labels (*.json *.jsonl *.csv);;All files (*)"


class FeatureTools:
    def __init__(
        self,
        client: ModelClient,
        inspector: InspectorPanel,
        steering: SteeringPanel,
        model_panel: ModelPanel,
        tabs: QTabWidget,
        status: QStatusBar,
    ) -> None:
        self.client, self.inspector, self.tabs, self.status = client, inspector, tabs, status
        self.neighbours = inspector.neighbours
        self.compare = CompareView()
        tabs.addTab(self.compare, "Compare")
        tabs.setTabToolTip(tabs.indexOf(self.compare), "Minimal pairs, contrast sets and differential steering")
        self.saes: list[SaeSummary] = []
        self._latest: dict[str, rq.Request] = {}  # "neighbours" / "compare": the request whose answer is wanted
        self._views: dict[int, str] = {}  # job id → the view its progress belongs to

        c = client
        c.on(ev.SaesChanged, lambda e: self._saes_changed(list(e.saes)))
        c.on(ev.CardReady, lambda e: self._card_shown(e.card))
        c.on(ev.NeighboursReady, self._neighbours_ready)
        c.on(ev.ContrastReady, lambda e: self.compare.show_contrast(e.contrast))
        c.on(ev.SelectivityReady, lambda e: self.compare.show_selectivity(e.result))
        c.on(ev.FeatureWarningsReady, lambda e: steering.set_warnings(e.sae_key, e.feature, e.warnings))
        c.on(ev.LabelsImported, self._labels_imported)
        c.on(ev.ProgressMade, self._progress)
        c.on(ev.JobFinished, self._ended)
        c.on(ev.JobFailed, self._ended)
        c.on(ev.JobCancelled, self._ended)
        self.neighbours.inspectRequested.connect(lambda key, f: c.send(rq.Inspect(key, f)))
        self.neighbours.compareRequested.connect(self.compare_with)
        self.neighbours.coactivationRequested.connect(
            lambda key, f: self._send(rq.Neighbours(key, f, coactivation=True))
        )
        self.neighbours.cancelRequested.connect(lambda: c.cancel(rq.Neighbours))
        self.compare.requested.connect(self._send)
        self.compare.inspectRequested.connect(lambda key, f: c.send(rq.Inspect(key, f)))
        self.compare.cancelRequested.connect(self._cancel_compare)
        steering.warningsNeeded.connect(lambda key, f: c.send(rq.FeatureWarnings(key, f)))
        model_panel.labelsDropped.connect(self.import_labels_file)

    # -- requests -----------------------------------------------------------------------------------------------
    def _send(self, request: rq.Request) -> None:
        view = "neighbours" if isinstance(request, rq.Neighbours) else "compare"
        self._latest[view] = request
        if view == "neighbours" and isinstance(request, rq.Neighbours) and request.coactivation:
            self.neighbours.show_progress(Progress("co-activation: starting…"))
        elif view == "compare":
            self.compare.running(request.label)
        job = self.client.send(request)
        if job is not None:
            self._views[job.id] = view

    def _card_shown(self, card: FeatureCard) -> None:
        """A feature was inspected: its neighbours follow (cosines at once; co-activation if already computed)."""
        shown = self.neighbours.data
        if shown is None or (shown.sae_key, shown.feature) != (card.sae_key, card.feature):
            self._send(rq.Neighbours(card.sae_key, card.feature))

    def compare_with(self, sae_key: str, feature: int, neighbour: int) -> None:
        """Open differential steering of `feature` against `neighbour` in the Compare view."""
        self.show_compare()
        self.compare.open_selectivity(sae_key, feature, neighbour)

    def show_compare(self) -> None:
        self.tabs.setCurrentWidget(self.compare)

    def _cancel_compare(self) -> None:
        for kind in COMPARE_REQUESTS:
            self.client.cancel(kind)

    def import_labels(self, parent: QWidget | None = None) -> None:
        """Features > Import labels…: a Neuronpedia export or a CSV for one loaded SAE."""
        if not self.saes:
            self.status.showMessage("import labels: load a model with SAEs first")
            return
        path, _ = QFileDialog.getOpenFileName(parent, "Import feature labels", "", LABEL_FILTER)
        if not path:
            return
        names = [f"layer {s.layer} ({s.key}, {s.d_sae} features)" for s in self.saes]
        current = self.inspector.card.sae_key if self.inspector.card is not None else self.saes[-1].key
        default = next((i for i, s in enumerate(self.saes) if s.key == current), 0)
        if len(self.saes) > 1:
            name, ok = QInputDialog.getItem(parent, "Import feature labels", "For the SAE at", names, default, False)
            if not ok:
                return
            default = names.index(name)
        self.import_labels_file(path, self.saes[default].key)

    def import_labels_file(self, path: str, sae_key: str) -> None:
        self.status.showMessage(f"importing labels from {path}…")
        self.client.send(rq.ImportLabels(path, sae_key))

    # -- events -------------------------------------------------------------------------------------------------
    def _saes_changed(self, saes: list[SaeSummary]) -> None:
        self.saes = saes
        self.compare.set_saes(saes)

    def _neighbours_ready(self, event: ev.NeighboursReady) -> None:
        card = self.inspector.card
        if card is None or (card.sae_key, card.feature) == (event.data.sae_key, event.data.feature):
            self.neighbours.show_neighbours(event.data, event.coactivation, event.imported)

    def _labels_imported(self, event: ev.LabelsImported) -> None:
        skipped = f" ({event.skipped} rows skipped)" if event.skipped else ""
        self.status.showMessage(f"{event.summary}{skipped}")
        card = self.inspector.card
        if card is not None and card.sae_key == event.sae_key:
            self.client.send(rq.Inspect(card.sae_key, card.feature))  # show the imported label beside the auto one

    def _progress(self, event: ev.ProgressMade) -> None:
        view = self._views.get(event.job)
        if view == "neighbours" and event.progress.phase != "ready":
            wanted = self._latest.get("neighbours")
            if isinstance(wanted, rq.Neighbours) and wanted.coactivation:
                self.neighbours.show_progress(event.progress)
        elif view == "compare" and event.progress.phase != "ready":
            self.compare.show_progress(event.progress)

    def _ended(self, event: ev.JobFinished | ev.JobFailed | ev.JobCancelled) -> None:
        self._views.pop(event.job, None)
        request = event.request
        outcome = (
            "cancelled"
            if isinstance(event, ev.JobCancelled)
            else f"failed: {event.message}"
            if isinstance(event, ev.JobFailed)
            else ""
        )
        if isinstance(request, rq.Neighbours) and request == self._latest.get("neighbours"):
            self.neighbours.ended(f"co-activation {outcome}" if outcome and request.coactivation else outcome)
        elif isinstance(request, COMPARE_REQUESTS) and request == self._latest.get("compare"):
            self.compare.ended(f"{request.label} {outcome}" if outcome else f"{request.label}: done")
