"""The main window: a composition of small panels wired to the model client. No model logic lives here."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QPaintEvent
from PySide6.QtWidgets import QMainWindow

from ui.analysis_requests import AnalysisRequests
from ui.banner import ErrorBanner
from ui.feature_search import FeatureSearch
from ui.feature_tools import FeatureTools
from ui.file_actions import session_file_in
from ui.generation_panel import GenerationPanel
from ui.heatmap_view import HeatmapView
from ui.inspector import EffectTable, InspectorPanel
from ui.model_client import ModelClient
from ui.model_panel import ModelPanel
from ui.model_recovery import ModelRecovery
from ui.recorded_run import show_outputs
from ui.session_controller import SessionController
from ui.steering_panel import SteeringPanel
from ui.sweep_tools import SweepTools
from ui.window_layout import FirstPaint, analysis_tabs, install_window_menus, lay_out
from ui.window_settings import restore_window, save_window
from workbench.document import Document, DocumentState, ShownRun
from workbench.document.state import DEFAULT_PROMPT
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.generation import GenerationResult
from workbench.models.protocol import ModelInfo
from workbench.saes.loader import SaeSummary
from workbench.steering.plan import SteeringPlan


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, default_saes: list[str] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Steering Workbench")
        self.settings = settings or QSettings()
        self.default_saes = default_saes or []
        self.client = ModelClient(self)
        self.info: ModelInfo | None = None
        self.saes: list[SaeSummary] = []
        self.running = False
        # The session's state (inputs, selections, the run shown): the panels send it commands and redraw from it.
        self.document = Document(DocumentState(prompt=DEFAULT_PROMPT))
        self._run_inputs = ("", True)  # the running generation's prompt and chat mode
        self._abandoned = False  # the running generation's result is not wanted
        self._quitting = False
        self._first_paint = FirstPaint(self)
        self._indexes_asked: set[str] = set()  # SAE keys whose feature labels were asked for

        self.model_panel = ModelPanel(self.document)
        self.steering = SteeringPanel(self.document)
        self.generation = GenerationPanel(self.document)
        self.heatmap = HeatmapView(self.document)
        self.inspector = InspectorPanel()
        self.search = FeatureSearch()
        self.effect = EffectTable()
        self.banner = ErrorBanner()

        self.analysis_tabs = analysis_tabs(self.heatmap, self.effect)
        self.analysis = AnalysisRequests(self.document, self.client, self.heatmap, self.analysis_tabs)
        parts = (self.client, self.inspector, self.steering, self.model_panel, self.analysis_tabs, self.statusBar())
        self.tools, self.sweeps = FeatureTools(*parts), SweepTools(*parts, self.document, self.search)  # Compare, Sweep
        self.session = SessionController(self)
        self.splitters = lay_out(self, self.analysis_tabs)
        self.statusBar().showMessage("starting…")
        self._wire()
        self.recovery = ModelRecovery(self)  # after the window's own crash and failure handlers: its banner wins
        self.session.install_menus()
        install_window_menus(self)
        restore_window(self)
        self.session.start()  # the last session's choices are where this one starts, not undo steps
        self.setAcceptDrops(True)  # drop a session file on the window to open it
        self.generation.prompt.setFocus()

    # -- wiring -------------------------------------------------------------------------------------------------
    def _wire(self) -> None:
        c = self.client
        c.on(ev.ProgressMade, lambda e: self.model_panel.show_progress(e.progress))
        c.on(ev.ModelLoaded, lambda e: self._model_loaded(e.info))
        c.on(ev.ModelLoaded, self.analysis.set_capabilities)
        c.on(ev.ModelLoaded, lambda e: self.steering.set_capabilities(e.capabilities, e.backend))
        c.on(ev.SaesChanged, lambda e: self._saes_changed(list(e.saes)))
        c.on(ev.SaeLoadFailed, lambda e: self.banner.show_message(f"load SAE failed: {e.message}"))
        c.on(ev.TokensGenerated, lambda e: self.generation.panes.on_tokens(e.step))
        c.on(ev.Generated, lambda e: self._generation_finished(e.result, e.plan))
        c.on(ev.HeatmapReady, lambda e: self.heatmap.show_data(e.data))
        c.on(ev.FeatureLayersReady, lambda e: self.heatmap.show_layers(e.data))
        c.on(ev.FeatureIndexReady, lambda e: self.search.add_indexes(list(e.indexes)))
        c.on(ev.CardReady, lambda e: self.inspector.show_card(e.card))
        c.on(ev.EffectReady, lambda e: self.effect.show_rows(list(e.rows)))
        c.on(ev.ScalesReady, lambda e: self.steering.set_scales(e.sae_key, e.feature, (e.scales, e.feature_label)))
        c.on(ev.JobFailed, self._failed)
        c.on(ev.JobCancelled, self._cancelled)
        c.on(ev.HostCrashed, self._crashed)
        self.model_panel.loadRequested.connect(self.load_model)
        self.model_panel.cancelRequested.connect(lambda: c.cancel(rq.LoadModel))
        self.model_panel.addSaeRequested.connect(lambda spec: c.send(rq.AddSae(spec)))
        self.model_panel.removeSaeRequested.connect(lambda key: c.send(rq.RemoveSae(key)))
        self.steering.scalesNeeded.connect(lambda key, f: c.send(rq.UnitScales(key, f)))
        self.steering.inspectRequested.connect(self.analysis.inspect)
        self.generation.generateRequested.connect(self.generate)
        self.generation.stopRequested.connect(self.stop)
        self.heatmap.featureClicked.connect(self.analysis.inspect)
        self.heatmap.requestChanged.connect(self.analysis.request)
        self.heatmap.anchorChanged.connect(lambda _k, _f: self.analysis.request_feature_layers())
        self.inspector.steerRequested.connect(self.steering.add_feature)
        self.inspector.layersRequested.connect(lambda k, f: self.heatmap.set_anchor(k, f, show=True))
        self.search.inspectRequested.connect(self.analysis.inspect)
        self.search.steerRequested.connect(self.steering.add_feature)
        self.search.layersRequested.connect(lambda k, f: self.heatmap.set_anchor(k, f, show=True))

    # -- model ------------------------------------------------------------------------------------------------
    def load_model(
        self,
        spec: str = "default",
        device: str = "auto",
        dtype: str = "auto",
        backend: str = "torch",
        saes: list[str] | None = None,
        keys: list[str] | None = None,
    ) -> None:
        """Load a model on `backend` with `saes` (default: the demo SAEs for the embedded model, none for
        others), keyed by `keys` where given."""
        if saes is None:
            saes = self.default_saes if spec == "default" else []
        self.send_load(load_request(self.document, spec, device, dtype, backend, saes, keys))

    def send_load(self, request: rq.LoadModel) -> None:
        """Start loading: until it is loaded, nothing is (a restart, Load anyway and the panel's Load come here)."""
        self.info = None
        self._indexes_asked.clear()
        self.session.model_loading()
        self.model_panel.set_loading(True)
        self._update_controls()
        self.client.send(request)
        self.statusBar().showMessage(f"loading {request.spec}…")

    def _model_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.model_panel.show_model(info)
        self.model_panel.set_loading(False)
        self.statusBar().showMessage(f"{info.name} ready on {info.device}")
        self._update_controls()

    def _saes_changed(self, saes: list[SaeSummary]) -> None:
        self.saes = saes
        self.model_panel.show_saes(saes)
        self.steering.set_saes(saes)
        keys = [s.key for s in saes]
        self.search.set_saes(keys)
        self._indexes_asked &= set(keys)  # a key that went away may come back naming another SAE
        missing = [k for k in self.search.missing(keys) if k not in self._indexes_asked]
        if missing:
            self._indexes_asked.update(missing)
            self.client.send(rq.FeatureIndexes(tuple(missing)))
        self.analysis.set_saes(saes)
        if saes and self.document.state.run is None:
            self.model_panel.idle("ready")

    # -- generation -------------------------------------------------------------------------------------------
    def generate(self) -> None:
        if self.info is None or self.running:
            return
        state = self.document.state
        prompt, plan = state.prompt.strip(), state.plan
        if not prompt:
            self.banner.show_message("generate failed: the prompt is empty")
            return
        self.banner.hide()
        self.generation.panes.reset(plan.names, [", ".join(e.describe() for e in v.edits) for v in plan.variants])
        self.running = True
        self._update_controls()
        self._run_inputs = (prompt, state.chat)
        self.client.send(rq.Generate(prompt, plan, state.settings, chat=state.chat))
        self.statusBar().showMessage(f"generating {len(plan.variants)} panes in one batch…")

    def stop(self) -> None:
        if self.running:
            self.client.cancel(rq.Generate)

    def abandon_run(self) -> None:
        """Stop the running generation and drop its result (another session is being shown)."""
        if self.running:
            self._abandoned = True
            self.stop()

    def _generation_finished(self, result: GenerationResult, plan: SteeringPlan) -> None:
        self.running = False
        if self._abandoned:
            self._abandoned = False
            self._update_controls()
            return
        self.document.show_run(ShownRun(result, plan, *self._run_inputs))
        self.generation.panes.on_finished(result)
        state = "stopped" if result.cancelled else "done"
        self.statusBar().showMessage(
            f"{state}: {result.steps} steps, {result.tokens_per_s:.1f} tokens/s per pane, "
            f"{len(result.panes)} panes in {result.wall_s:.1f} s"
        )
        self._update_controls()
        self.analysis.refresh_choices()
        self.analysis.request()
        self.analysis.request_effect(plan, result)
        self.session.generated()

    def show_run(self) -> None:
        """Show the document's run (an opened session's recorded outputs) as if just generated, or empty panes."""
        run, plan = self.document.state.run, self.document.state.plan
        show_outputs(self.generation.panes, run.plan if run else plan, run.result if run else None)
        self.effect.show_rows([])
        self.analysis.refresh_choices()

    def request_analysis(self) -> None:
        """Recompute the heatmaps of the text shown (Run > Refresh heatmap, a session's SAEs loaded)."""
        self.analysis.request()

    # -- state ------------------------------------------------------------------------------------------------
    def _failed(self, event: ev.JobFailed) -> None:
        what = event.request.label
        if isinstance(event.request, rq.Generate):
            self.running = self._abandoned = False
        if isinstance(event.request, rq.LoadModel):
            self.model_panel.idle("load failed")
        self.banner.show_message(f"{what} failed: {event.message}")
        self.statusBar().showMessage(f"{what} failed")
        self._update_controls()

    def _cancelled(self, event: ev.JobCancelled) -> None:
        if isinstance(event.request, rq.Generate):  # stopped before its first step: no result comes
            self.running = self._abandoned = False
        if isinstance(event.request, rq.LoadModel):
            self.model_panel.idle("load cancelled")
        self.statusBar().showMessage(f"{event.request.label} cancelled")
        self._update_controls()

    def _crashed(self, _event: ev.HostCrashed) -> None:  # the panel and the banner: ui/model_recovery.py
        self.info, self.running, self._abandoned = None, False, False  # nothing loaded may claim to be ready
        self.statusBar().showMessage("model process ended")
        self._update_controls()

    def _update_controls(self) -> None:
        self.generation.set_running(self.running, ready=self.info is not None)

    def after_first_paint(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the window has painted itself (at once if it already has): the model process
        starts after the first paint, so its start-up (torch imports) does not compete with the window's."""
        self._first_paint.then(callback)

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        super().paintEvent(event)
        self._first_paint.happened()

    def quit(self) -> None:
        """File > Quit: close, asking about unsaved changes as closing the window by hand does."""
        self._quitting = True
        try:
            self.close()
        finally:
            self._quitting = False

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        if session_file_in(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        path = session_file_in(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            # After the drop returns: the source application waits for it, and opening may ask questions.
            QTimer.singleShot(0, lambda: self.session.open_session(path))

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt override
        # The user closing the window (or File > Quit) is asked about unsaved changes; a close by the program
        # (tests, the screenshot demo) is not, and its unsaved work stays in the autosave slot instead.
        if not self.session.closing(ask=event.spontaneous() or self._quitting):
            event.ignore()
            return
        # Stop the work cleanly and wait for the model process: no thread or process outlives the window.
        save_window(self)
        self.client.shutdown()
        super().closeEvent(event)


def load_request(
    document: Document, spec: str, device: str, dtype: str, backend: str, saes: list[str], keys: list[str] | None
) -> rq.LoadModel:
    """The LoadModel request, with the document's max-memory setting (spread over devices, torch backend)."""
    max_memory = document.state.model.max_memory if backend == "torch" else ""
    return rq.LoadModel(
        spec, device, dtype, tuple(saes), tuple(keys) if keys is not None else None, backend, max_memory
    )
