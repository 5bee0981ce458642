"""Where the window's panels sit (model and steering on the left, prompt, panes and analyses in the middle,
feature search and the inspector on the right, the error and recovery banners above), its Run, Features and
Model menus, and what waits for its first paint."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from ui.quality_tool import open_quality

if TYPE_CHECKING:
    from ui.main_window import MainWindow


def analysis_tabs(heatmaps: QWidget, effect: QWidget) -> QTabWidget:
    """The analysis views as tabs."""
    tabs = QTabWidget()
    tabs.setDocumentMode(True)  # no frame: cleaner, and Fusion's large tab frame is slow to paint
    tabs.addTab(heatmaps, "Heatmaps")
    tabs.addTab(effect, "Did the steer take effect?")
    return tabs


def lay_out(window: MainWindow, analysis: QTabWidget) -> dict[str, QSplitter]:
    """Place the window's panels; returns its splitters by name (their sizes are remembered between runs)."""
    left = QSplitter(Qt.Orientation.Vertical)
    left.addWidget(window.model_panel)
    left.addWidget(window.steering)
    left.setStretchFactor(1, 1)
    center = QSplitter(Qt.Orientation.Vertical)
    center.addWidget(window.generation)
    center.addWidget(analysis)
    center.setSizes([360, 400])  # the heatmaps get the larger share: they are read, not skimmed
    right = QSplitter(Qt.Orientation.Vertical)
    right.addWidget(window.search)
    right.addWidget(window.inspector)
    right.setSizes([300, 600])
    main = QSplitter(Qt.Orientation.Horizontal)
    main.addWidget(left)
    main.addWidget(center)
    main.addWidget(right)
    main.setSizes([360, 900, 380])
    host = QWidget()
    host_layout = QVBoxLayout(host)
    host_layout.setContentsMargins(6, 6, 6, 6)
    host_layout.addWidget(window.banner)
    host_layout.addWidget(window.session.recovery)
    host_layout.addWidget(main, 1)
    window.setCentralWidget(host)
    return {"left": left, "center": center, "right": right, "main": main}


def install_window_menus(window: MainWindow) -> None:
    """Run, Features and Model (File and Edit come from the session controller)."""

    def action(text: str, shortcut: str, slot: Callable[[], object], tip: str) -> QAction:
        a = QAction(text, window)
        a.setShortcut(QKeySequence(shortcut))
        a.setToolTip(tip)
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.triggered.connect(lambda _checked=False: slot())
        window.addAction(a)
        return a

    run = window.menuBar().addMenu("&Run")
    run.addAction(action("Generate", "Ctrl+Return", window.generate, "Generate all panes"))
    run.addAction(action("Stop", "Esc", window.stop, "Stop generating"))
    run.addAction(action("Refresh heatmap", "Ctrl+H", window.request_analysis, "Recompute the heatmaps"))
    features = window.menuBar().addMenu("&Features")
    features.addAction(action("Search features", "Ctrl+F", window.search.focus, "Search features by label or id"))
    features.addAction(
        action("Compare features", "Ctrl+K", window.tools.show_compare, "Minimal pairs, contrast sets, steering")
    )
    import_tip = "Import feature labels (Neuronpedia JSON/JSONL export, or CSV feature,label) for a loaded SAE"
    features.addAction(action("Import labels…", "", lambda: window.tools.import_labels(window), import_tip))
    model = window.menuBar().addMenu("&Model")
    model.addAction(action("Load model", "Ctrl+L", window.model_panel._request_load, "Load the chosen model"))
    quality_tip = "FVE with its interval and baselines, CE-loss recovered, KL, L0, dead / dense and feature densities"
    model.addAction(action("SAE quality…", "", lambda: open_quality(window), quality_tip))
    model.addAction(window.recovery.restart_action)  # enabled while the model process is dead


FIRST_PAINT_WAIT_MS = 1000


class FirstPaint(QObject):
    """Callbacks that wait for the window's first paint, or at most FIRST_PAINT_WAIT_MS (a window that starts
    minimised or on another desktop may not paint for a long time)."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._waiting: list[Callable[[], None]] | None = []  # None once the window has painted

    def then(self, callback: Callable[[], None]) -> None:
        if self._waiting is None:
            callback()
            return
        self._waiting.append(callback)
        QTimer.singleShot(FIRST_PAINT_WAIT_MS, self.happened)

    def happened(self) -> None:
        if self._waiting is not None:
            callbacks, self._waiting = self._waiting, None
            for callback in callbacks:
                QTimer.singleShot(0, callback)
