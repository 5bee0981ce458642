"""The main window: a composition of small panels wired to the model worker. No model logic lives here."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from ui.banner import ErrorBanner
from ui.feature_search import FeatureSearch
from ui.generation_panel import GenerationPanel
from ui.heatmap_view import HeatmapView
from ui.inspector import EffectTable, InspectorPanel
from ui.model_panel import ModelPanel
from ui.recorded_run import select_analysis, show_outputs
from ui.session_controller import SessionController, session_file_in
from ui.steering_panel import SteeringPanel
from ui.worker import ModelWorker
from workbench.errors import WorkbenchError
from workbench.models.generation import GenerationResult
from workbench.models.protocol import ModelInfo
from workbench.saes.loader import SaeSummary
from workbench.session.model import AnalysisValue
from workbench.steering.plan import SteeringPlan

FIRST_PAINT_WAIT_MS = 1000


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, default_saes: list[str] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Steering Workbench")
        self.settings = settings or QSettings()
        self.default_saes = default_saes or []
        self.worker = ModelWorker(self)
        self.info: ModelInfo | None = None
        self.saes: list[SaeSummary] = []
        self.running = False
        self.last_result: GenerationResult | None = None
        self.last_plan: SteeringPlan | None = None
        self.last_prompt, self.last_chat = "", True  # what the last run (or the opened session's outputs) used
        self.wanted_analysis: dict[str, AnalysisValue] = {}  # an opened session's selections not shown yet
        self._run_inputs = ("", True)  # the running generation's prompt and chat mode
        self._abandoned = False  # the running generation's result is not wanted
        self._quitting = False
        self._after_paint: list[Callable[[], None]] | None = []  # None once the window has painted
        self._indexes_asked: set[str] = set()  # SAE keys whose feature labels were asked for

        self.model_panel = ModelPanel()
        self.steering = SteeringPanel()
        self.generation = GenerationPanel()
        self.heatmap = HeatmapView()
        self.inspector = InspectorPanel()
        self.search = FeatureSearch()
        self.effect = EffectTable()
        self.banner = ErrorBanner()

        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.model_panel)
        left.addWidget(self.steering)
        left.setStretchFactor(1, 1)
        analysis = QTabWidget()
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
        with self.session.tracker.restoring():  # the last session's choices are where this one starts, not a step
            self._restore()
        self.session.start()
        self.setAcceptDrops(True)  # drop a session file on the window to open it
        self.generation.prompt.setFocus()

    # -- wiring -------------------------------------------------------------------------------------------------
    def _wire(self) -> None:
        w = self.worker
        w.progress.connect(self.model_panel.show_progress)
        w.modelLoaded.connect(self._model_loaded)
        w.saesChanged.connect(self._saes_changed)
        w.tokens.connect(self.generation.panes.on_tokens)
        w.generationFinished.connect(self._generation_finished)
        w.heatmapReady.connect(self.heatmap.show_data)
        w.featureLayersReady.connect(self.heatmap.show_layers)
        w.featureIndexReady.connect(self.search.add_indexes)
        w.cardReady.connect(self.inspector.show_card)
        w.effectReady.connect(self.effect.show_rows)
        w.scalesReady.connect(self.steering.set_scales)
        w.failed.connect(self._failed)
        w.cancelled.connect(self._cancelled)
        self.model_panel.loadRequested.connect(self.load_model)
        self.model_panel.cancelRequested.connect(w.cancel_load)
        self.model_panel.addSaeRequested.connect(w.add_sae)
        self.model_panel.removeSaeRequested.connect(w.remove_sae)
        self.steering.scalesNeeded.connect(w.unit_scales)
        self.steering.inspectRequested.connect(w.inspect)
        self.generation.generateRequested.connect(self.generate)
        self.generation.stopRequested.connect(self.stop)
        self.heatmap.featureClicked.connect(w.inspect)
        self.heatmap.requestChanged.connect(self.request_analysis)
        self.heatmap.anchorChanged.connect(lambda _k, _f: self.request_feature_layers())
        self.inspector.steerRequested.connect(self.steering.add_feature)
        self.inspector.layersRequested.connect(lambda k, f: self.heatmap.set_anchor(k, f, show=True))
        self.search.inspectRequested.connect(w.inspect)
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
        self.worker.load_model(spec, device, dtype, saes, keys)
        self.statusBar().showMessage(f"loading {spec}…")

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
        if self.heatmap.anchor is not None and self.heatmap.anchor[0] not in keys:
            self.heatmap.clear_anchor()
        missing = [k for k in self.search.missing(keys) if k not in self._indexes_asked]
        if missing:
            self._indexes_asked.update(missing)
            self.worker.feature_indexes(missing)
        self._refresh_heatmap_choices()
        if saes and self.last_result is None:
            self.model_panel.idle("ready")

    # -- generation -------------------------------------------------------------------------------------------
    def generate(self) -> None:
        if self.info is None or self.running:
            return
        try:
            prompt = self.generation.prompt_text()
            settings = self.generation.settings()
        except WorkbenchError as exc:
            self._failed("generate", str(exc))
            return
        plan = self.steering.plan
        self.banner.hide()
        self.generation.panes.reset(plan.names, [", ".join(e.describe() for e in v.edits) for v in plan.variants])
        self.running = True
        self._update_controls()
        self._run_inputs = (prompt, self.generation.chat.isChecked())
        self.worker.generate(prompt, plan, settings, chat=self._run_inputs[1])
        self.statusBar().showMessage(f"generating {len(plan.variants)} panes in one batch…")

    def stop(self) -> None:
        if self.running:
            self.worker.stop_generation()

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
        self.last_result, self.last_plan = result, plan
        self.last_prompt, self.last_chat = self._run_inputs
        self.generation.panes.on_finished(result)
        state = "stopped" if result.cancelled else "done"
        self.statusBar().showMessage(
            f"{state}: {result.steps} steps, {result.tokens_per_s:.1f} tokens/s per pane, "
            f"{len(result.panes)} panes in {result.wall_s:.1f} s"
        )
        self._update_controls()
        self._refresh_heatmap_choices()
        self.request_analysis()
        if len(plan.variants) > 1 and self.saes:
            self.worker.effect(plan, result)
        self.session.generated()

    def show_run(
        self,
        plan: SteeringPlan,
        result: GenerationResult | None,
        prompt: str,
        chat: bool,
        analysis: dict[str, AnalysisValue] | None = None,
    ) -> None:
        """Show recorded outputs (an opened session's) as if just generated; `result` None empties the panes."""
        self.last_result, self.last_plan = result, plan if result is not None else None
        self.last_prompt, self.last_chat = prompt, chat
        self.wanted_analysis = dict(analysis or {})
        show_outputs(self.generation.panes, plan, result)
        self.effect.show_rows([])
        self._refresh_heatmap_choices()

    # -- analysis ---------------------------------------------------------------------------------------------
    def _refresh_heatmap_choices(self) -> None:
        panes = list(self.last_plan.names) if self.last_plan is not None else []
        self.heatmap.set_choices(panes, [(f"layer {s.layer} ({s.key})", s.key) for s in self.saes])
        select_analysis(self.heatmap, self.wanted_analysis, [s.key for s in self.saes])

    def _analysed_text(self) -> tuple[str, list[int], int] | None:
        """(pane name, prompt + output token ids, prompt length) of the pane chosen in the heatmap view."""
        result, plan = self.last_result, self.last_plan
        if result is None or not self.saes or plan is None:
            return None
        name = self.heatmap.pane_combo.currentData() or plan.names[0]
        index = plan.names.index(name) if name in plan.names else 0
        return name, list(result.prompt_ids) + list(result.panes[index].token_ids), len(result.prompt_ids)

    def request_analysis(self) -> None:
        self.request_heatmap()
        self.request_feature_layers()

    def request_heatmap(self) -> None:
        text = self._analysed_text()
        if text is not None:
            self.worker.heatmap(*text, self.heatmap.sae_combo.currentData() or self.saes[0].key)

    def request_feature_layers(self) -> None:
        text, anchor = self._analysed_text(), self.heatmap.anchor
        if text is not None and anchor is not None:
            self.worker.feature_layers(*text, *anchor)

    # -- state ------------------------------------------------------------------------------------------------
    def _failed(self, what: str, message: str) -> None:
        if what == "generate":
            self.running = self._abandoned = False
        if what == "load model":
            self.model_panel.idle("load failed")
        self.banner.show_message(f"{what} failed: {message}")
        self.statusBar().showMessage(f"{what} failed")
        self._update_controls()

    def _cancelled(self, what: str) -> None:
        if what == "generate":  # stopped before its first step: no result comes
            self.running = self._abandoned = False
        if what == "load model":
            self.model_panel.idle("load cancelled")
        self.statusBar().showMessage(f"{what} cancelled")
        self._update_controls()

    def _update_controls(self) -> None:
        self.generation.set_running(self.running, ready=self.info is not None)

    def _restore(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1600, 960)
        for name, splitter in self.splitters.items():
            state = self.settings.value(f"window/splitter/{name}")
            if isinstance(state, QByteArray):
                splitter.restoreState(state)
        prompt = self.settings.value("last/prompt")
        if isinstance(prompt, str) and prompt:
            self.generation.prompt.setPlainText(prompt)
        g = self.generation
        for key, spin in (("seed", g.seed), ("max_tokens", g.max_tokens)):
            value = self.settings.value(f"last/{key}")
            if value is not None:
                spin.setValue(int(value))  # type: ignore[call-overload]
        for key, dspin in (("temperature", g.temperature), ("top_p", g.top_p)):
            value = self.settings.value(f"last/{key}")
            if value is not None:
                dspin.setValue(float(value))  # type: ignore[arg-type]
        chat = self.settings.value("last/chat")
        if chat is not None:
            g.chat.setChecked(str(chat).lower() in ("true", "1"))
        spec = self.settings.value("last/model")
        if isinstance(spec, str) and spec:
            self.model_panel.spec.setEditText(spec)

    def _save(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        for name, splitter in self.splitters.items():
            self.settings.setValue(f"window/splitter/{name}", splitter.saveState())
        self.settings.setValue("last/prompt", self.generation.prompt.toPlainText())
        self.settings.setValue("last/model", self.model_panel.spec.currentText())
        g = self.generation
        for key, value in (
            ("seed", g.seed.value()),
            ("max_tokens", g.max_tokens.value()),
            ("temperature", g.temperature.value()),
            ("top_p", g.top_p.value()),
            ("chat", g.chat.isChecked()),
        ):
            self.settings.setValue(f"last/{key}", value)
        self.settings.sync()

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
        # Stop the work cleanly and wait for the worker: no thread outlives the window.
        self._save()
        self.worker.shutdown()
        super().closeEvent(event)
