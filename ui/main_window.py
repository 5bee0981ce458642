"""The main window: a composition of small panels wired to the model client. No model logic lives here."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from ui.banner import ErrorBanner
from ui.feature_search import FeatureSearch
from ui.file_actions import session_file_in
from ui.generation_panel import GenerationPanel
from ui.heatmap_view import HeatmapView
from ui.inspector import EffectTable, InspectorPanel
from ui.model_client import ModelClient
from ui.model_panel import ModelPanel
from ui.recorded_run import show_outputs
from ui.session_controller import SessionController
from ui.steering_panel import SteeringPanel
from ui.window_settings import restore_window, save_window
from workbench.document import Document, DocumentState, ShownRun
from workbench.document.state import DEFAULT_PROMPT
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.generation import GenerationResult
from workbench.models.protocol import ModelInfo
from workbench.saes.loader import SaeSummary
from workbench.steering.plan import SteeringPlan

FIRST_PAINT_WAIT_MS = 1000


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
        self.capture = True  # the loaded backend can capture activations (heatmaps, effect)
        # The session's state (inputs, selections, the run shown): the panels send it commands and redraw from it.
        self.document = Document(DocumentState(prompt=DEFAULT_PROMPT))
        self._run_inputs = ("", True)  # the running generation's prompt and chat mode
        self._abandoned = False  # the running generation's result is not wanted
        self._quitting = False
        self._after_paint: list[Callable[[], None]] | None = []  # None once the window has painted
        self._indexes_asked: set[str] = set()  # SAE keys whose feature labels were asked for

        self.model_panel = ModelPanel(self.document)
        self.steering = SteeringPanel(self.document)
        self.generation = GenerationPanel(self.document)
        self.heatmap = HeatmapView(self.document)
        self.inspector = InspectorPanel()
        self.search = FeatureSearch()
        self.effect = EffectTable()
        self.banner = ErrorBanner()

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.model_panel)
        left.addWidget(self.steering)
        left.setStretchFactor(1, 1)
        self.analysis_tabs = analysis = QTabWidget()
        analysis.setDocumentMode(True)  # no frame: cleaner, and Fusion's large tab frame is slow to paint
        analysis.addTab(self.heatmap, "Heatmaps")
        analysis.addTab(self.effect, "Did the steer take effect?")
        center = QSplitter(Qt.Orientation.Vertical)
        center.addWidget(self.generation)
        center.addWidget(analysis)
        center.setSizes([360, 400])  # the heatmaps get the larger share: they are read, not skimmed
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.search)
        right.addWidget(self.inspector)
        right.setSizes([300, 600])
        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.addWidget(left)
        self.main_split.addWidget(center)
        self.main_split.addWidget(right)
        self.main_split.setSizes([360, 900, 380])
        self.splitters = {"left": left, "center": center, "right": right, "main": self.main_split}
        host = QWidget()
        host_layout = QVBoxLayout(host)
        host_layout.setContentsMargins(6, 6, 6, 6)
        host_layout.addWidget(self.banner)
        self.session = SessionController(self)
        host_layout.addWidget(self.session.recovery)
        host_layout.addWidget(self.main_split, 1)
        self.setCentralWidget(host)
        self.statusBar().showMessage("starting…")
        self._wire()
        self.session.install_menus()
        self._actions()
        restore_window(self)
        self.session.start()  # the last session's choices are where this one starts, not undo steps
        self.setAcceptDrops(True)  # drop a session file on the window to open it
        self.generation.prompt.setFocus()

    # -- wiring -------------------------------------------------------------------------------------------------
    def _wire(self) -> None:
        c = self.client
        c.on(ev.ProgressMade, lambda e: self.model_panel.show_progress(e.progress))
        c.on(ev.ModelLoaded, lambda e: self._model_loaded(e.info))
        c.on(ev.ModelLoaded, self._capabilities)
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
        self.steering.inspectRequested.connect(self.inspect)
        self.generation.generateRequested.connect(self.generate)
        self.generation.stopRequested.connect(self.stop)
        self.heatmap.featureClicked.connect(self.inspect)
        self.heatmap.requestChanged.connect(self.request_analysis)
        self.heatmap.anchorChanged.connect(lambda _k, _f: self.request_feature_layers())
        self.inspector.steerRequested.connect(self.steering.add_feature)
        self.inspector.layersRequested.connect(lambda k, f: self.heatmap.set_anchor(k, f, show=True))
        self.search.inspectRequested.connect(self.inspect)
        self.search.steerRequested.connect(self.steering.add_feature)
        self.search.layersRequested.connect(lambda k, f: self.heatmap.set_anchor(k, f, show=True))

    def _actions(self) -> None:
        def action(text: str, shortcut: str, slot: object, tip: str) -> QAction:
            a = QAction(text, self)
            a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(tip)
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        run = self.menuBar().addMenu("&Run")
        run.addAction(action("Generate", "Ctrl+Return", self.generate, "Generate all panes"))
        run.addAction(action("Stop", "Esc", self.stop, "Stop generating"))
        run.addAction(action("Refresh heatmap", "Ctrl+H", self.request_analysis, "Recompute the heatmaps"))
        features = self.menuBar().addMenu("&Features")
        features.addAction(action("Search features", "Ctrl+F", self.search.focus, "Search features by label or id"))
        model = self.menuBar().addMenu("&Model")
        model.addAction(action("Load model", "Ctrl+L", self.model_panel._request_load, "Load the chosen model"))

    # -- model ------------------------------------------------------------------------------------------------
    def load_model(
        self,
        spec: str = "default",
        device: str = "auto",
        dtype: str = "auto",
        saes: list[str] | None = None,
        keys: list[str] | None = None,
    ) -> None:
        """Load a model with `saes` (default: the demo SAEs for the embedded model, none for others), keyed by
        `keys` where given."""
        self.info = None
        self._indexes_asked.clear()
        self.session.model_loading()
        self.model_panel.set_loading(True)
        self._update_controls()
        if saes is None:
            saes = self.default_saes if spec == "default" else []
        self.client.send(rq.LoadModel(spec, device, dtype, tuple(saes), tuple(keys) if keys is not None else None))
        self.statusBar().showMessage(f"loading {spec}…")

    def _model_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.model_panel.show_model(info)
        self.model_panel.set_loading(False)
        self.statusBar().showMessage(f"{info.name} ready on {info.device}")
        self._update_controls()

    def _capabilities(self, event: ev.ModelLoaded) -> None:
        """Offer only what the loaded backend can do; say why the rest is greyed."""
        self.capture = event.capabilities.capture
        self.steering.set_capabilities(event.capabilities, event.backend)
        why = "" if self.capture else f"the {event.backend} backend cannot capture activations: use the torch backend"
        for index in range(self.analysis_tabs.count()):
            self.analysis_tabs.setTabEnabled(index, self.capture)
            self.analysis_tabs.setTabToolTip(index, why)

    def _saes_changed(self, saes: list[SaeSummary]) -> None:
        self.saes = saes
        self.model_panel.show_saes(saes)
        self.steering.set_saes(saes)
        keys = [s.key for s in saes]
        self.search.set_saes(keys)
        self._indexes_asked &= set(keys)  # a key that went away may come back naming another SAE
        if self.heatmap.anchor is not None and self.heatmap.anchor[0] not in keys:
            self.heatmap.clear_anchor()
        missing = [k for k in self.search.missing(keys) if k not in self._indexes_asked]
        if missing:
            self._indexes_asked.update(missing)
            self.client.send(rq.FeatureIndexes(tuple(missing)))
        self._refresh_heatmap_choices()
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
        self._refresh_heatmap_choices()
        self.request_analysis()
        if len(plan.variants) > 1 and self.saes and self.capture:
            self.client.send(rq.Effect(plan, result))
        self.session.generated()

    def show_run(self) -> None:
        """Show the document's run (an opened session's recorded outputs) as if just generated, or empty panes."""
        run, plan = self.document.state.run, self.document.state.plan
        show_outputs(self.generation.panes, run.plan if run else plan, run.result if run else None)
        self.effect.show_rows([])
        self._refresh_heatmap_choices()

    # -- analysis ---------------------------------------------------------------------------------------------
    def _refresh_heatmap_choices(self) -> None:
        run = self.document.state.run
        panes = list(run.plan.names) if run is not None else []
        # The view selects the document's choices (an opened session's) as far as they exist yet.
        self.heatmap.set_choices(panes, [(f"layer {s.layer} ({s.key})", s.key) for s in self.saes])

    def _analysed_text(self) -> tuple[str, list[int], int] | None:
        """(pane name, prompt + output token ids, prompt length) of the pane chosen for the heatmaps."""
        state = self.document.state
        if state.run is None or not self.saes:
            return None
        pane = state.analysis.get("heatmap_pane")
        return state.run.pane_tokens(pane if isinstance(pane, str) else None)

    def _chosen_sae(self) -> str:
        """The SAE chosen for the heatmaps, if it is loaded (an opened session may name one still loading)."""
        key = self.document.state.analysis.get("heatmap_sae")
        loaded = [s.key for s in self.saes]
        return key if isinstance(key, str) and key in loaded else loaded[0]

    def _followed_feature(self) -> tuple[str, int] | None:
        """The feature followed across layers, if its SAE is loaded."""
        analysis = self.document.state.analysis
        key, feature = analysis.get("selected_sae"), analysis.get("selected_feature")
        if isinstance(key, str) and isinstance(feature, int) and key in {s.key for s in self.saes}:
            return key, feature
        return None

    def request_analysis(self) -> None:
        if not self.capture:
            return
        self.request_heatmap()
        self.request_feature_layers()

    def request_heatmap(self) -> None:
        text = self._analysed_text()
        if text is not None:
            name, ids, prompt_len = text
            self.client.send(rq.Heatmap(name, tuple(ids), prompt_len, self._chosen_sae()))

    def request_feature_layers(self) -> None:
        text, anchor = self._analysed_text(), self._followed_feature()
        if text is not None and anchor is not None:
            name, ids, prompt_len = text
            self.client.send(rq.FeatureLayers(name, tuple(ids), prompt_len, *anchor))

    def inspect(self, sae_key: str, feature: int) -> None:
        self.client.send(rq.Inspect(sae_key, feature))

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

    def _crashed(self, event: ev.HostCrashed) -> None:
        """The model process died: what it had loaded is gone, so nothing may claim to be ready."""
        self.info = None
        self.running = self._abandoned = False
        self.model_panel.idle("model process ended: load the model again")
        self.banner.show_message(f"model process: {event.message}")
        self._update_controls()

    def _update_controls(self) -> None:
        self.generation.set_running(self.running, ready=self.info is not None)

    def after_first_paint(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the window has painted itself (at once if it already has).

        Starting the model process after the first paint keeps its start-up (torch imports) from competing
        with the window's first appearance.
        """
        if self._after_paint is None:
            callback()
            return
        self._after_paint.append(callback)
        # A window that starts minimised or on another desktop may not paint for a long time: do not wait.
        QTimer.singleShot(FIRST_PAINT_WAIT_MS, self._painted)

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        super().paintEvent(event)
        self._painted()

    def _painted(self) -> None:
        if self._after_paint is not None:
            callbacks, self._after_paint = self._after_paint, None
            for callback in callbacks:
                QTimer.singleShot(0, callback)

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
