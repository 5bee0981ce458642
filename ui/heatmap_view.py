"""Activation heatmaps (pyqtgraph): tokens × top features at one layer, and layers × tokens residual norms.

Hover shows token, feature and activation; a click on a cell opens that feature in the inspector.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from workbench.analysis.heatmap import HeatmapData


def _short(token: str) -> str:
    token = token.replace("\n", "⏎").replace(" ", "·")
    return token if len(token) <= 10 else token[:9] + "…"


class _Grid(pg.PlotWidget):
    """An image with token ticks below and row labels at the left; reports hover and click cells."""

    hovered = Signal(int, int)  # row, column (-1, -1 when outside)
    clicked = Signal(int, int)

    def __init__(self, colormap: str) -> None:
        super().__init__()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(colormap))
        self.addItem(self.image)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=True, y=False)
        self.invertY(True)
        self.hideButtons()
        self.shape = (0, 0)
        self.scene().sigMouseMoved.connect(self._moved)
        self.image.mouseClickEvent = self._image_clicked  # type: ignore[method-assign]

    def show_matrix(self, matrix: np.ndarray, rows: list[str], columns: list[str]) -> None:
        self.shape = matrix.shape
        # Colour levels ignore position 0: the first token's residual is an outlier that would wash out the rest.
        body = matrix[:, 1:] if matrix.shape[1] > 1 else matrix
        top = float(body.max()) if body.size and body.max() > 0 else 1.0
        self.image.setImage(matrix, levels=(float(min(0.0, body.min(initial=0.0))), top))
        self.image.setRect(0, 0, matrix.shape[1], matrix.shape[0])
        step = max(1, -(-len(columns) // max(1, self.width() // 60)))
        self.getAxis("bottom").setTicks([[(i + 0.5, _short(t)) for i, t in enumerate(columns) if i % step == 0]])
        self.getAxis("left").setTicks([[(i + 0.5, r) for i, r in enumerate(rows)]])
        self.setXRange(0, max(matrix.shape[1], 1), padding=0)
        self.setYRange(0, max(matrix.shape[0], 1), padding=0)

    def _cell(self, scene_pos: object) -> tuple[int, int]:
        point = self.plotItem.vb.mapSceneToView(scene_pos)
        row, col = int(np.floor(point.y())), int(np.floor(point.x()))
        if 0 <= row < self.shape[0] and 0 <= col < self.shape[1]:
            return row, col
        return -1, -1

    def _moved(self, pos: object) -> None:
        self.hovered.emit(*self._cell(pos))

    def _image_clicked(self, event: object) -> None:
        row, col = self._cell(event.scenePos())  # type: ignore[attr-defined]
        if row >= 0:
            event.accept()  # type: ignore[attr-defined]
            self.clicked.emit(row, col)


class HeatmapView(QWidget):
    featureClicked = Signal(str, int)  # sae key, feature
    requestChanged = Signal()  # pane or layer choice changed: ask for a new heatmap

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: HeatmapData | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        self.pane_combo = QComboBox()
        self.pane_combo.setToolTip("Whose text to analyse (prompt + output)")
        self.sae_combo = QComboBox()
        self.sae_combo.setToolTip("Which SAE (layer) to read the features from")
        controls.addWidget(QLabel("text of"))
        controls.addWidget(self.pane_combo)
        controls.addWidget(QLabel("at"))
        controls.addWidget(self.sae_combo)
        controls.addStretch(1)
        self.readout = QLabel("hover a cell")
        self.readout.setObjectName("readout")
        controls.addWidget(self.readout)
        layout.addLayout(controls)
        self.tabs = QTabWidget()
        self.features_grid = _Grid("inferno")
        self.norms_grid = _Grid("viridis")
        self.tabs.addTab(self.features_grid, "Tokens × top features")
        self.tabs.addTab(self.norms_grid, "Layers × tokens (residual norm)")
        layout.addWidget(self.tabs, 1)
        self.features_grid.hovered.connect(self._hover_features)
        self.norms_grid.hovered.connect(self._hover_norms)
        self.features_grid.clicked.connect(self._clicked)
        self.pane_combo.currentIndexChanged.connect(lambda _i: self.requestChanged.emit())
        self.sae_combo.currentIndexChanged.connect(lambda _i: self.requestChanged.emit())

    def set_choices(self, panes: list[str], saes: list[tuple[str, str]]) -> None:
        for combo, items in ((self.pane_combo, [(p, p) for p in panes]), (self.sae_combo, saes)):
            combo.blockSignals(True)
            current = combo.currentData()
            combo.clear()
            for label, data in items:
                combo.addItem(label, data)
            index = combo.findData(current)
            combo.setCurrentIndex(index if index >= 0 else (1 if combo is self.pane_combo and combo.count() > 1 else 0))
            combo.blockSignals(False)

    def show_data(self, data: HeatmapData) -> None:
        self.data = data
        rows = [
            f"f{f} {label}" if not label.startswith("feature") else f"f{f}"
            for f, label in zip(data.features, data.labels, strict=True)
        ]
        self.features_grid.show_matrix(data.matrix, rows, list(data.tokens))
        self.norms_grid.show_matrix(data.norms, [f"L{layer}" for layer in data.norm_layers], list(data.tokens))
        self.readout.setText(f"{data.pane}: {len(data.tokens)} tokens, layer {data.layer} — hover a cell")

    def _hover_features(self, row: int, col: int) -> None:
        if self.data is None or row < 0:
            return
        d = self.data
        self.readout.setText(
            f"token {col} {d.tokens[col]!r} · f{d.features[row]} {d.labels[row]} · activation {d.matrix[row, col]:.3f}"
        )

    def _hover_norms(self, row: int, col: int) -> None:
        if self.data is None or row < 0:
            return
        d = self.data
        self.readout.setText(
            f"token {col} {d.tokens[col]!r} · layer {d.norm_layers[row]} · ‖x‖ {d.norms[row, col]:.1f}"
        )

    def _clicked(self, row: int, _col: int) -> None:
        if self.data is not None:
            self.featureClicked.emit(self.data.sae_key, self.data.features[row])
