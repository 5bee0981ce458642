"""The Compare view: tell features apart with a minimal pair, two contrast sets, or differential steering.

Each part says what it wants as a typed request (`requested`); ui/feature_tools.py sends it to the model process
and hands the answer back here. The minimal pair shows both texts' tokens × features heatmaps (the features that
differ most at the differing tokens, on one colour scale) and the difference table.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.compare_tabs import ContrastSetsTab, SelectivityTab, fill_combo, fill_row, make_table, sae_choices
from ui.heatmap_grid import Grid
from workbench.analysis.contrast import SHARED_RATIO, Contrast, ContrastFeature, builtin_pairs, differing_positions
from workbench.analysis.selectivity import Selectivity
from workbench.errors import InputError
from workbench.jobs import requests as rq
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary

GRID_ROWS = 10  # features shown in the heatmaps: the ones that differ most
PAIR_COLUMNS = ("feature", "label", "A max", "B max", "difference", "at the differing tokens")


class MinimalPairTab(QWidget):
    requested = Signal(object)  # rq.MinimalPair
    inspectRequested = Signal(int)  # feature of the chosen SAE

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.contrast: Contrast | None = None
        self.rows: list[ContrastFeature] = []
        layout = QVBoxLayout(self)
        inputs = QHBoxLayout()
        self.pick = QComboBox()
        self.pick.setToolTip("Shipped minimal pairs: surface-similar texts with different meanings")
        self.pick.addItem("Shipped pairs…", None)
        try:
            for pair in builtin_pairs():
                self.pick.addItem(f"{pair['id']}: {pair.get('note', '')}", (pair["a"], pair["b"]))
        except InputError as exc:
            self.pick.setToolTip(str(exc))
        self.pick.activated.connect(self._picked)
        self.sae = QComboBox()
        self.sae.setToolTip("The SAE whose features are compared")
        inputs.addWidget(self.pick, 1)
        inputs.addWidget(self.sae)
        layout.addLayout(inputs)
        texts = QHBoxLayout()
        self.text_a, self.text_b = QLineEdit(), QLineEdit()
        for name, field in (("A", self.text_a), ("B", self.text_b)):
            field.setPlaceholderText(
                f"text {name}, e.g. " + ("The coffee was bitter." if name == "A" else "The coffin was bitter.")
            )
            field.returnPressed.connect(self.run)
            texts.addWidget(QLabel(f"<b>{name}</b>"))
            texts.addWidget(field, 1)
        self.run_button = QPushButton("Compare A and B")
        self.run_button.setToolTip("The features whose activation differs most at the tokens where A and B differ")
        self.run_button.clicked.connect(self.run)
        texts.addWidget(self.run_button)
        layout.addLayout(texts)
        self.grid_a = Grid("inferno", "Type two texts that differ in a word (or pick a shipped pair) and compare.")
        self.grid_b = Grid("inferno", "Text B's tokens × the same features, on the same colour scale.")
        self.caption_a, self.caption_b = QLabel("A"), QLabel("B")
        grids = QSplitter(Qt.Orientation.Horizontal)
        for caption, grid in ((self.caption_a, self.grid_a), (self.caption_b, self.grid_b)):
            box = QWidget()
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 0, 0, 0)
            caption.setObjectName("hint")
            box_layout.addWidget(caption)
            box_layout.addWidget(grid, 1)
            grid.clicked.connect(lambda row, _col: self._inspect_row(row))
            grids.addWidget(box)
        self.table = make_table(PAIR_COLUMNS, "Double-click a feature to inspect it")
        self.table.cellDoubleClicked.connect(lambda row, _c: self._inspect_row(row))
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(grids)
        split.addWidget(self.table)
        split.setSizes([220, 160])
        layout.addWidget(split, 1)

    def _picked(self, index: int) -> None:
        texts = self.pick.itemData(index)
        if texts is not None:
            self.text_a.setText(texts[0])
            self.text_b.setText(texts[1])
            self.run()

    def run(self) -> None:
        key, a, b = self.sae.currentData(), self.text_a.text().strip(), self.text_b.text().strip()
        if key and a and b:
            self.requested.emit(rq.MinimalPair(str(key), a, b))

    def show_contrast(self, contrast: Contrast) -> None:
        self.contrast = contrast
        a_tokens, b_tokens = [str(t) for t in contrast.a_tokens], [str(t) for t in contrast.b_tokens]
        diff_a, diff_b = (set(p) for p in differing_positions(a_tokens, b_tokens))
        self.rows = list(contrast.features)
        shown = self.rows[:GRID_ROWS]
        m_a, m_b = _matrix(shown, len(a_tokens), "a"), _matrix(shown, len(b_tokens), "b")
        top = max(float(m_a.max(initial=0.0)), float(m_b.max(initial=0.0))) or 1.0
        labels = [f"f{f.feature} {_short(f.label)}" for f in shown]
        if shown:
            self.grid_a.show_matrix(m_a, labels, _marked(a_tokens, diff_a), 0, levels=(0.0, top))
            self.grid_b.show_matrix(m_b, labels, _marked(b_tokens, diff_b), 0, levels=(0.0, top))
        else:
            self.grid_a.show_hint("No feature fires at the differing tokens.")
            self.grid_b.show_hint("")
        self.caption_a.setText(f"A · layer {contrast.layer} · the differing tokens are marked ▸ (one colour scale)")
        self.caption_b.setText(f"B · the same {len(shown)} features")
        self.table.setRowCount(len(self.rows))
        for r, f in enumerate(self.rows):
            at_a = max((p.activation for p in f.a_positions if p.position in diff_a), default=0.0)
            at_b = max((p.activation for p in f.b_positions if p.position in diff_b), default=0.0)
            weaker, stronger = min(at_a, at_b), max(at_a, at_b)
            kind = (
                "fires on both (shared form)"
                if weaker > 0 and weaker >= SHARED_RATIO * stronger
                else ("A's meaning" if f.difference > 0 else "B's meaning")
            )
            values = (f"f{f.feature}", f.label, f"{f.a_max:.3f}", f"{f.b_max:.3f}", f"{f.difference:+.3f}", kind)
            fill_row(self.table, r, values)

    def _inspect_row(self, row: int) -> None:
        if 0 <= row < len(self.rows):
            self.inspectRequested.emit(self.rows[row].feature)


class CompareView(QWidget):
    requested = Signal(object)  # a typed request (rq.MinimalPair, rq.ContrastSets, rq.Selectivity)
    inspectRequested = Signal(str, int)  # sae key, feature
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.pair, self.sets, self.selectivity = MinimalPairTab(), ContrastSetsTab(), SelectivityTab()
        self.tabs.addTab(self.pair, "Minimal pair")
        self.tabs.addTab(self.sets, "Contrast sets")
        self.tabs.addTab(self.selectivity, "Differential steering")
        layout.addWidget(self.tabs, 1)
        for part in (self.pair, self.sets, self.selectivity):
            part.requested.connect(self.requested)
        self.pair.inspectRequested.connect(lambda f: self.inspectRequested.emit(str(self.pair.sae.currentData()), f))
        self.sets.inspectRequested.connect(lambda f: self.inspectRequested.emit(str(self.sets.sae.currentData()), f))
        footer = QHBoxLayout()
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested)
        footer.addWidget(self.status, 1)
        footer.addWidget(self.progress, 1)
        footer.addWidget(self.cancel_button)
        layout.addLayout(footer)
        self.ended()

    def set_model_alive(self, alive: bool) -> None:
        """The three Run buttons are off while the model process is dead: what they sent would be dropped."""
        for part in (self.pair, self.sets, self.selectivity):
            part.run_button.setEnabled(alive)

    def set_saes(self, saes: list[SaeSummary]) -> None:
        choices = sae_choices(saes)
        for combo in (self.pair.sae, self.sets.sae):
            fill_combo(combo, choices)
        self.selectivity.set_saes(choices)

    def show_contrast(self, contrast: Contrast) -> None:
        (self.sets if contrast.sets else self.pair).show_contrast(contrast)

    def show_selectivity(self, result: Selectivity) -> None:
        self.selectivity.show_result(result)

    def open_selectivity(self, sae_key: str, feature_a: int, feature_b: int) -> None:
        """Differential steering of a feature against a neighbour, ready to run."""
        self.tabs.setCurrentWidget(self.selectivity)
        self.selectivity.set_features(sae_key, feature_a, sae_key, feature_b)

    def running(self, what: str) -> None:
        self.status.setText(f"{what}…")
        self.show_progress(Progress(what))

    def show_progress(self, p: Progress) -> None:
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.progress.setRange(0, p.total if p.total else 0)
        self.progress.setValue(p.done)
        self.progress.setFormat(p.phase)
        self.status.setText(f"{p.phase} ({p.done}/{p.total})" if p.total else f"{p.phase}…")

    def ended(self, outcome: str = "") -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.status.setText(outcome)


def _matrix(features: list[ContrastFeature], n_tokens: int, side: str) -> np.ndarray:
    matrix = np.zeros((len(features), n_tokens), np.float32)
    for r, f in enumerate(features):
        for p in f.a_positions if side == "a" else f.b_positions:
            if 0 <= p.position < n_tokens:
                matrix[r, p.position] = p.activation
    return matrix


def _marked(tokens: list[str], differing: set[int]) -> list[str]:
    return [f"▸{t}" if i in differing else t for i, t in enumerate(tokens)]


def _short(label: str, width: int = 22) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
