"""Activation heatmaps (pyqtgraph) of one pane's text (prompt + output):

- tokens × the features that fire most at one layer;
- one feature across layers: the chosen feature at its own SAE and its nearest decoder direction at each other
  SAE (the maths is in workbench.analysis.feature_layers; this file only draws);
- layers × tokens residual norms.

Hover shows the values; a click on a row opens that feature in the inspector. A grid is drawn only when its tab
is visible (a hidden tab keeps its data and draws when shown), and each grid shows a hint until it has data,
so the window opens without painting empty plots.

The chosen pane, SAE and followed feature are the document's analysis selections: a choice here is written
there, and a session's selections show as soon as their pane and SAE exist (until then the document keeps them,
so a save keeps them too).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
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

from ui.heatmap_grid import Grid
from workbench.analysis.feature_layers import FeatureLayers, LayerMatch
from workbench.analysis.heatmap import HeatmapData
from workbench.document import Document

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


def _clip(text: str, n: int = ROW_LABEL_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class HeatmapView(QWidget):
    featureClicked = Signal(str, int)  # sae key, feature: open it in the inspector
    requestChanged = Signal()  # pane or layer choice changed: ask for a new heatmap
    anchorChanged = Signal(str, int)  # sae key, feature: ask for that feature across layers

    def __init__(self, document: Document | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document if document is not None else Document()
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
        self.features_grid = Grid("inferno", "Generate text to see which features fire on each of its tokens.")
        self.layers_hint = (
            "Pick a feature to follow across layers: click a row of 'Tokens × top features', choose it above, "
            "or use 'Across layers' in the inspector or the feature search."
        )
        self.layers_grid = Grid("inferno", self.layers_hint)
        self.norms_grid = Grid("viridis", "Generate text to see the residual stream's norm at each SAE layer.")
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
        self.pane_combo.currentIndexChanged.connect(lambda _i: self._chosen("heatmap_pane", self.pane_combo))
        self.sae_combo.currentIndexChanged.connect(lambda _i: self._chosen("heatmap_sae", self.sae_combo))

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
        self._select_from_document(saes)

    def _select_from_document(self, saes: list[tuple[str, str]]) -> None:
        """Show the document's selections as far as their pane and SAE exist; a selection the document lacks
        becomes the one shown. The caller asks for the analysis once everything is chosen."""
        wanted = self.document.state.analysis
        for key, combo in (("heatmap_pane", self.pane_combo), ("heatmap_sae", self.sae_combo)):
            index = combo.findData(wanted.get(key))
            if index >= 0:
                combo.blockSignals(True)
                combo.setCurrentIndex(index)
                combo.blockSignals(False)
            elif wanted.get(key) is None and combo.currentData() is not None:
                self.document.set_analysis(**{key: combo.currentData()})
        sae, feature = wanted.get("selected_sae"), wanted.get("selected_feature")
        known = sae in [k for _label, k in saes]
        if isinstance(sae, str) and isinstance(feature, int) and known and self._anchor != (sae, feature):
            self.set_anchor(sae, feature)

    def _chosen(self, key: str, combo: QComboBox) -> None:
        self.document.set_analysis(**{key: combo.currentData()})
        self.requestChanged.emit()

    def pending(self) -> set[str]:
        """The document's selections not shown yet (their SAE is still loading)."""
        shown = {
            "heatmap_pane": self.pane_combo.currentData(),
            "heatmap_sae": self.sae_combo.currentData(),
            "selected_sae": self._anchor[0] if self._anchor else None,
            "selected_feature": self._anchor[1] if self._anchor else None,
        }
        return {k for k, v in self.document.state.analysis.items() if k in shown and shown[k] != v}

    @property
    def anchor(self) -> tuple[str, int] | None:
        """The feature followed across layers, once the user chose one."""
        return self._anchor

    def set_anchor(self, sae_key: str, feature: int, show: bool = False) -> None:
        """Follow this feature across layers (and switch to that tab if `show`)."""
        self._anchor = (sae_key, feature)
        self.document.set_analysis(selected_sae=sae_key, selected_feature=feature)
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
        self.document.set_analysis(selected_sae=None, selected_feature=None)
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
            rows = [layer_row_label(r) for r in f.rows]
            self.layers_grid.show_matrix(f.scaled, rows, list(f.tokens), f.prompt_len, levels=(0.0, 1.0))
        else:
            return
        self._drawn.add(index)

    # -- hover and click ----------------------------------------------------------------------------------------
    def _hover_features(self, row: int, col: int) -> None:
        if self.data is not None and row >= 0:
            self.readout.setText(features_readout(self.data, row, col))

    def _hover_layers(self, row: int, col: int) -> None:
        if self.layers_data is not None and row >= 0:
            self.readout.setText(layers_readout(self.layers_data, row, col))

    def _hover_norms(self, row: int, col: int) -> None:
        if self.data is not None and row >= 0:
            self.readout.setText(norms_readout(self.data, row, col))

    def _features_clicked(self, row: int, _col: int) -> None:
        if self.data is not None:
            key, feature = self.data.sae_key, self.data.features[row]
            self.featureClicked.emit(key, feature)
            self.set_anchor(key, feature)

    def _layers_clicked(self, row: int, _col: int) -> None:
        if self.layers_data is not None:
            r = self.layers_data.rows[row]
            self.featureClicked.emit(r.sae_key, r.feature)


def layer_row_label(r: LayerMatch) -> str:
    """A row of the one-feature × layers grid: layer, feature, label, and ★ or its cosine to the chosen one."""
    label = "" if r.label.startswith("feature") else " " + r.label
    tag = "★" if r.anchor else (f"cos {r.cosine:.2f}" + (" weak" if r.weak else ""))
    return f"{_clip(f'L{r.layer} f{r.feature}{label}', ROW_LABEL_CHARS - 2)}  {tag}"


def features_readout(d: HeatmapData, row: int, col: int) -> str:
    return (
        f"token {col} {d.tokens[col]!r} · L{d.layer} f{d.features[row]} {d.labels[row]} · "
        f"activation {d.matrix[row, col]:.3f} — click to inspect"
    )


def layers_readout(f: FeatureLayers, row: int, col: int) -> str:
    r, anchor = f.rows[row], f.rows[f.anchor_row]
    relation = "the chosen feature" if r.anchor else f"cos {r.cosine:.2f} to L{anchor.layer} f{anchor.feature}"
    return (
        f"token {col} {f.tokens[col]!r} · L{r.layer} f{r.feature} {r.label} ({relation}) · "
        f"activation {f.activations[row, col]:.3f} = {f.scaled[row, col]:.2f}× "
        + ("its max" if r.reference_max is not None else "its max here")
    )


def norms_readout(d: HeatmapData, row: int, col: int) -> str:
    return f"token {col} {d.tokens[col]!r} · layer {d.norm_layers[row]} · ‖x‖ {d.norms[row, col]:.1f}"
