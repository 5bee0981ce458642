"""Activation heatmaps (pyqtgraph) of one pane's text (prompt + output):

- tokens × the features that fire most at one layer;
- one feature across layers: the chosen feature at its own SAE and its nearest decoder direction at each other
  SAE (the maths is in workbench.analysis.feature_layers; this file only draws);
- layers × tokens residual norms.

Hover shows the values; a click on a row opens that feature in the inspector. A grid is drawn only when its tab
is visible (a hidden tab keeps its data and draws when shown), and each grid shows a hint until it has data,
so the window opens without painting empty plots.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.analysis.feature_layers import FeatureLayers
from workbench.analysis.heatmap import HeatmapData

ROW_LABEL_CHARS = 30
TAB_FEATURES, TAB_LAYERS, TAB_NORMS = 0, 1, 2
LAYERS_TIP = (
    "One feature across layers. Feature ids at different layers name different features, so each row is:\n"
    "★ the chosen feature at its own SAE, and at every other SAE the feature whose decoder direction is\n"
    "closest to it (cosine shown; below 0.3 it is marked 'weak': probably no counterpart at that layer).\n"
    "Colour: activation ÷ the feature's max activation on reference text (or its max on this text when the\n"
    "SAE has no statistics), so rows are comparable. Pick the feature here, click a row of 'Tokens × top\n"
    "features', or use 'Across layers' in the inspector or the search results. Click a row to inspect it."
)


def _short(token: str) -> str:
    token = token.replace("\n", "⏎").replace(" ", "·")
    return token if len(token) <= 10 else token[:9] + "…"


def _clip(text: str, n: int = ROW_LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class _Grid(QStackedWidget):
    """A hint until data arrives, then an image with token ticks below and row labels at the left.

    Reports the hovered and clicked cell; marks where the prompt ends with a dashed line.
    """

    hovered = Signal(int, int)  # row, column (-1, -1 when outside)
    clicked = Signal(int, int)

    def __init__(self, colormap: str, hint: str) -> None:
        super().__init__()
        self.hint = QLabel(hint)
        self.hint.setObjectName("hint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.addWidget(self.hint)
        self.plot = pg.PlotWidget()
        self.addWidget(self.plot)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(colormap))
        self.plot.addItem(self.image)
        self.prompt_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((128, 128, 128), width=1, style=Qt.PenStyle.DashLine))
        self.prompt_line.setToolTip("Left: the prompt; right: the generated tokens")
        self.plot.addItem(self.prompt_line)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.invertY(True)
        self.plot.hideButtons()
        self.shape: tuple[int, int] = (0, 0)
        self.rows: list[str] = []
        self.columns: list[str] = []
        self.plot.scene().sigMouseMoved.connect(self._moved)
        self.image.mouseClickEvent = self._image_clicked  # type: ignore[method-assign]

    def show_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.setCurrentWidget(self.hint)

    def show_matrix(
        self,
        matrix: np.ndarray,
        rows: list[str],
        columns: list[str],
        prompt_len: int,
        levels: tuple[float, float] | None = None,
    ) -> None:
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))
        self.rows, self.columns = rows, columns
        if levels is None:
            # Colour levels ignore position 0: the first token's residual is an outlier that would wash out the rest.
            body = matrix[:, 1:] if matrix.shape[1] > 1 else matrix
            top = float(body.max()) if body.size and body.max() > 0 else 1.0
            levels = (float(min(0.0, body.min(initial=0.0))), top)
        self.image.setImage(matrix, levels=levels, autoDownsample=False)
        self.image.setRect(0, 0, matrix.shape[1], matrix.shape[0])
        self.prompt_line.setValue(prompt_len)
        self.prompt_line.setVisible(0 < prompt_len < matrix.shape[1])
        self.plot.getAxis("left").setTicks([[(i + 0.5, r) for i, r in enumerate(rows)]])
        self._update_ticks()
        self.plot.setXRange(0, max(matrix.shape[1], 1), padding=0)
        self.plot.setYRange(0, max(matrix.shape[0], 1), padding=0)
        self.setCurrentWidget(self.plot)

    def _update_ticks(self) -> None:
        if not self.columns:
            return
        labels = [_short(t) for t in self.columns]
        # One label per `step` tokens, so that labels never overlap at the current width.
        metrics = QFontMetrics(self.plot.getAxis("bottom").style.get("tickFont") or self.font())
        widest = max(metrics.horizontalAdvance(t) for t in labels) + 8
        axis_width = max(1, self.plot.width() - self.plot.getAxis("left").width() - 10)
        per_label = axis_width / max(1, len(labels))
        step = max(1, int(np.ceil(widest / per_label)))
        self.plot.getAxis("bottom").setTicks([[(i + 0.5, t) for i, t in enumerate(labels) if i % step == 0]])

    def resizeEvent(self, event: QResizeEvent) -> None:  # Qt override
        super().resizeEvent(event)
        self._update_ticks()

    def _cell(self, scene_pos: object) -> tuple[int, int]:
        point = self.plot.plotItem.vb.mapSceneToView(scene_pos)
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
    featureClicked = Signal(str, int)  # sae key, feature: open it in the inspector
    requestChanged = Signal()  # pane or layer choice changed: ask for a new heatmap
    anchorChanged = Signal(str, int)  # sae key, feature: ask for that feature across layers

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: HeatmapData | None = None
        self.layers_data: FeatureLayers | None = None
        self._drawn: set[int] = set()  # tabs whose grid shows the current data
        self._anchor: tuple[str, int] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        self.pane_combo = QComboBox()
        self.pane_combo.setToolTip("Whose text to analyse (prompt + output)")
        self.pane_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        controls.addWidget(QLabel("text of"))
        controls.addWidget(self.pane_combo)
        self.tab_controls = QStackedWidget()
        self.tab_controls.addWidget(self._features_controls())
        self.tab_controls.addWidget(self._layers_controls())
        self.tab_controls.addWidget(QWidget())
        controls.addWidget(self.tab_controls)
        controls.addStretch(1)
        self.readout = QLabel("")
        self.readout.setObjectName("readout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        controls.addWidget(self.readout)
        layout.addLayout(controls)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.features_grid = _Grid("inferno", "Generate text to see which features fire on each of its tokens.")
        self.layers_hint = (
            "Pick a feature to follow across layers: click a row of 'Tokens × top features', choose it above, "
            "or use 'Across layers' in the inspector or the feature search."
        )
        self.layers_grid = _Grid("inferno", self.layers_hint)
        self.norms_grid = _Grid("viridis", "Generate text to see the residual stream's norm at each SAE layer.")
        self.tabs.addTab(self.features_grid, "Tokens × top features")
        self.tabs.addTab(self.layers_grid, "One feature × layers")
        self.tabs.addTab(self.norms_grid, "Residual norm × layers")
        self.tabs.setTabToolTip(TAB_FEATURES, "The features that fire most on this text, at the chosen layer")
        self.tabs.setTabToolTip(TAB_LAYERS, LAYERS_TIP)
        self.tabs.setTabToolTip(TAB_NORMS, "‖x‖ of the residual stream after each layer that has an SAE")
        layout.addWidget(self.tabs, 1)
        self.features_grid.hovered.connect(self._hover_features)
        self.layers_grid.hovered.connect(self._hover_layers)
        self.norms_grid.hovered.connect(self._hover_norms)
        self.features_grid.clicked.connect(self._features_clicked)
        self.layers_grid.clicked.connect(self._layers_clicked)
        self.tabs.currentChanged.connect(self._tab_changed)
        self.pane_combo.currentIndexChanged.connect(lambda _i: self.requestChanged.emit())
        self.sae_combo.currentIndexChanged.connect(lambda _i: self.requestChanged.emit())

    def _features_controls(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.sae_combo = QComboBox()
        self.sae_combo.setToolTip("Which SAE (layer) to read the features from")
        self.sae_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        row.addWidget(QLabel("at"))
        row.addWidget(self.sae_combo)
        row.addStretch(1)
        return box

    def _layers_controls(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.anchor_sae = QComboBox()
        self.anchor_sae.setToolTip("The SAE (layer) of the feature to follow")
        self.anchor_sae.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.anchor_feature = QSpinBox()
        self.anchor_feature.setRange(0, 10**7)
        self.anchor_feature.setPrefix("f")
        self.anchor_feature.setKeyboardTracking(False)
        self.anchor_feature.setToolTip("Feature id at that SAE (Enter to show)")
        self.anchor_button = QPushButton("Show")
        self.anchor_button.setToolTip(LAYERS_TIP)
        self.anchor_button.clicked.connect(self._anchor_from_controls)
        self.anchor_feature.editingFinished.connect(self._anchor_from_controls)
        row.addWidget(QLabel("follow"))
        row.addWidget(self.anchor_sae)
        row.addWidget(self.anchor_feature)
        row.addWidget(self.anchor_button)
        row.addStretch(1)
        return box

    # -- choices ------------------------------------------------------------------------------------------------
    def set_choices(self, panes: list[str], saes: list[tuple[str, str]]) -> None:
        for combo, items in (
            (self.pane_combo, [(p, p) for p in panes]),
            (self.sae_combo, saes),
            (self.anchor_sae, saes),
        ):
            combo.blockSignals(True)
            current = combo.currentData()
            combo.clear()
            for label, data in items:
                combo.addItem(label, data)
            index = combo.findData(current)
            combo.setCurrentIndex(index if index >= 0 else (1 if combo is self.pane_combo and combo.count() > 1 else 0))
            combo.blockSignals(False)

    @property
    def anchor(self) -> tuple[str, int] | None:
        """The feature followed across layers, once the user chose one."""
        return self._anchor

    def set_anchor(self, sae_key: str, feature: int, show: bool = False) -> None:
        """Follow this feature across layers (and switch to that tab if `show`)."""
        self._anchor = (sae_key, feature)
        index = self.anchor_sae.findData(sae_key)
        if index >= 0:
            self.anchor_sae.setCurrentIndex(index)
        self.anchor_feature.blockSignals(True)
        self.anchor_feature.setValue(feature)
        self.anchor_feature.blockSignals(False)
        if self.layers_data is None:
            self.layers_grid.show_hint(f"Generate text to follow {sae_key} f{feature} across the SAE layers.")
        if show:
            self.tabs.setCurrentIndex(TAB_LAYERS)
        self.anchorChanged.emit(sae_key, feature)

    def clear_anchor(self) -> None:
        """Stop following a feature (its SAE went away)."""
        self._anchor = None
        self.layers_data = None
        self._drawn.discard(TAB_LAYERS)
        self.layers_grid.show_hint(self.layers_hint)

    def _anchor_from_controls(self) -> None:
        key = self.anchor_sae.currentData()
        if key and (str(key), self.anchor_feature.value()) != self._anchor:
            self.set_anchor(str(key), self.anchor_feature.value())

    # -- data ---------------------------------------------------------------------------------------------------
    def show_data(self, data: HeatmapData) -> None:
        self.data = data
        self._drawn -= {TAB_FEATURES, TAB_NORMS}
        self._draw_visible()
        self.readout.setText(f"{data.pane}: {len(data.tokens)} tokens — hover a cell")

    def show_layers(self, data: FeatureLayers) -> None:
        self.layers_data = data
        self._drawn.discard(TAB_LAYERS)
        self._draw_visible()

    def _tab_changed(self, index: int) -> None:
        self.tab_controls.setCurrentIndex(index)
        self._draw_visible()

    def _draw_visible(self) -> None:
        """Draw only the visible tab's grid: the others draw when they are shown."""
        index = self.tabs.currentIndex()
        if index in self._drawn:
            return
        d, f = self.data, self.layers_data
        if index == TAB_FEATURES and d is not None:
            rows = [
                _clip(f"f{feat} {label}" if not label.startswith("feature") else f"f{feat}")
                for feat, label in zip(d.features, d.labels, strict=True)
            ]
            self.features_grid.show_matrix(d.matrix, rows, list(d.tokens), d.prompt_len)
        elif index == TAB_NORMS and d is not None:
            rows = [f"L{layer}" for layer in d.norm_layers]
            self.norms_grid.show_matrix(d.norms, rows, list(d.tokens), d.prompt_len)
        elif index == TAB_LAYERS and f is not None:
            rows = [self._layer_row(i) for i in range(len(f.rows))]
            self.layers_grid.show_matrix(f.scaled, rows, list(f.tokens), f.prompt_len, levels=(0.0, 1.0))
        else:
            return
        self._drawn.add(index)

    def _layer_row(self, i: int) -> str:
        assert self.layers_data is not None
        r = self.layers_data.rows[i]
        label = "" if r.label.startswith("feature") else " " + r.label
        tag = "★" if r.anchor else (f"cos {r.cosine:.2f}" + (" weak" if r.weak else ""))
        return f"{_clip(f'L{r.layer} f{r.feature}{label}', ROW_LABEL_CHARS - 2)}  {tag}"

    # -- hover and click ----------------------------------------------------------------------------------------
    def _hover_features(self, row: int, col: int) -> None:
        if self.data is None or row < 0:
            return
        d = self.data
        self.readout.setText(
            f"token {col} {d.tokens[col]!r} · L{d.layer} f{d.features[row]} {d.labels[row]} · "
            f"activation {d.matrix[row, col]:.3f} — click to inspect"
        )

    def _hover_layers(self, row: int, col: int) -> None:
        f = self.layers_data
        if f is None or row < 0:
            return
        r = f.rows[row]
        anchor = f.rows[f.anchor_row]
        relation = "the chosen feature" if r.anchor else f"cos {r.cosine:.2f} to L{anchor.layer} f{anchor.feature}"
        self.readout.setText(
            f"token {col} {f.tokens[col]!r} · L{r.layer} f{r.feature} {r.label} ({relation}) · "
            f"activation {f.activations[row, col]:.3f} = {f.scaled[row, col]:.2f}× "
            + ("its max" if r.reference_max is not None else "its max here")
        )

    def _hover_norms(self, row: int, col: int) -> None:
        if self.data is None or row < 0:
            return
        d = self.data
        self.readout.setText(
            f"token {col} {d.tokens[col]!r} · layer {d.norm_layers[row]} · ‖x‖ {d.norms[row, col]:.1f}"
        )

    def _features_clicked(self, row: int, _col: int) -> None:
        if self.data is not None:
            key, feature = self.data.sae_key, self.data.features[row]
            self.featureClicked.emit(key, feature)
            self.set_anchor(key, feature)

    def _layers_clicked(self, row: int, _col: int) -> None:
        if self.layers_data is not None:
            r = self.layers_data.rows[row]
            self.featureClicked.emit(r.sae_key, r.feature)
