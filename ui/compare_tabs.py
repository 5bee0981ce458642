"""Two parts of the Compare view (ui/compare_view.py): contrast sets (two files of texts → features ranked by
effect size and AUROC) and differential steering (steer A, and separately B: the 2 × 2 table and both outputs)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from workbench.analysis.contrast import Contrast, ContrastFeature, Firing
from workbench.analysis.selectivity import DEFAULT_PROMPT, Selectivity
from workbench.jobs import requests as rq
from workbench.saes.loader import SaeSummary

SETS_COLUMNS = ("feature", "label", "effect size", "AUROC", "A max", "B max", "top example in A", "top example in B")
TABLE_COLUMNS = ("output", "A's activation", "B's activation", "text")


def sae_choices(saes: Sequence[SaeSummary]) -> list[tuple[str, str]]:
    return [(f"layer {s.layer}" if s.key == f"L{s.layer}" else f"layer {s.layer} ({s.key})", s.key) for s in saes]


class ContrastSetsTab(QWidget):
    requested = Signal(object)  # rq.ContrastSets
    inspectRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[ContrastFeature] = []
        layout = QVBoxLayout(self)
        form = QGridLayout()
        self.file_a, self.file_b = QLineEdit(), QLineEdit()
        for row, (name, field, what) in enumerate(
            (("A", self.file_a, "texts about the concept"), ("B", self.file_b, "texts without it"))
        ):
            field.setPlaceholderText(f"set {name}: {what} (one per line, or JSONL)")
            browse = QPushButton("…")
            browse.setFixedWidth(28)
            browse.clicked.connect(lambda _c=False, f=field: self._browse(f))
            form.addWidget(QLabel(f"<b>{name}</b>"), row, 0)
            form.addWidget(field, row, 1)
            form.addWidget(browse, row, 2)
        self.sae = QComboBox()
        self.run_button = QPushButton("Rank features")
        self.run_button.setToolTip("Effect size (difference of mean max activation ÷ pooled spread) and AUROC")
        self.run_button.clicked.connect(self.run)
        form.addWidget(self.sae, 0, 3)
        form.addWidget(self.run_button, 1, 3)
        layout.addLayout(form)
        self.table = make_table(SETS_COLUMNS, "Double-click a feature to inspect it")
        self.table.cellDoubleClicked.connect(lambda row, _c: self._inspect_row(row))
        layout.addWidget(self.table, 1)

    def _browse(self, field: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file of texts", "", "Texts (*.txt *.jsonl);;All (*)")
        if path:
            field.setText(path)

    def run(self) -> None:
        key, a, b = self.sae.currentData(), self.file_a.text().strip(), self.file_b.text().strip()
        if key and a and b:
            self.requested.emit(rq.ContrastSets(str(key), a, b))

    def show_contrast(self, contrast: Contrast) -> None:
        self.rows = list(contrast.features)
        self.table.setRowCount(len(self.rows))
        for r, f in enumerate(self.rows):
            effect = "∞ (no spread)" if f.effect_size is None else f"{f.effect_size:+.2f}"
            auroc = "—" if f.auroc is None else f"{f.auroc:.2f}"
            example_a = _example(contrast.a_tokens, f.a_positions)
            example_b = _example(contrast.b_tokens, f.b_positions)
            values = (f"f{f.feature}", f.label, effect, auroc, f"{f.a_max:.3f}", f"{f.b_max:.3f}", example_a, example_b)
            fill_row(self.table, r, values)

    def _inspect_row(self, row: int) -> None:
        if 0 <= row < len(self.rows):
            self.inspectRequested.emit(self.rows[row].feature)


def _example(tokens: tuple[object, ...], firings: tuple[Firing, ...]) -> str:
    """The best firing's text around its token, the token in ⟦ ⟧."""
    if not firings:
        return "—"
    best = firings[0]
    text = tokens[best.text] if best.text is not None and best.text < len(tokens) else ()
    words = [str(t) for t in text] if isinstance(text, tuple | list) else []
    if not 0 <= best.position < len(words):
        return f"⟦{best.token}⟧ ({best.activation:.2f})"
    left = "".join(words[max(1, best.position - 6) : best.position])
    right = "".join(words[best.position + 1 : best.position + 4])
    return f"{left}⟦{words[best.position]}⟧{right} ({best.activation:.2f})".replace("\n", " ")


class SelectivityTab(QWidget):
    requested = Signal(object)  # rq.Selectivity

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        form = QGridLayout()
        self.sae_a, self.sae_b = QComboBox(), QComboBox()
        self.feature_a, self.feature_b = QSpinBox(), QSpinBox()
        for row, (name, combo, spin) in enumerate(
            (("A", self.sae_a, self.feature_a), ("B", self.sae_b, self.feature_b))
        ):
            spin.setRange(0, 10**7)
            spin.setPrefix("f")
            form.addWidget(QLabel(f"<b>{name}</b>"), row, 0)
            form.addWidget(combo, row, 1)
            form.addWidget(spin, row, 2)
        self.strength = QDoubleSpinBox()
        self.strength.setRange(-1000.0, 1000.0)
        self.strength.setValue(8.0)
        self.strength.setToolTip("The same strength for both steers")
        self.unit = QComboBox()
        self.unit.addItems(["raw", "maxact", "resid"])
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText(DEFAULT_PROMPT)
        self.run_button = QPushButton("Steer each")
        self.run_button.setToolTip(
            "Generate three outputs in one batch (greedy, 32 tokens): unsteered, A steered, B steered;\n"
            "read each with the unsteered model and measure A and B on the generated tokens"
        )
        self.run_button.clicked.connect(self.run)
        form.addWidget(QLabel("strength"), 0, 3)
        form.addWidget(self.strength, 0, 4)
        form.addWidget(self.unit, 0, 5)
        form.addWidget(self.prompt, 1, 3, 1, 2)
        form.addWidget(self.run_button, 1, 5)
        layout.addLayout(form)
        self.summary = QLabel("Steer A, and separately B, at the same strength: does A's steer raise A more?")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.table = make_table(TABLE_COLUMNS, "Mean activation over the generated tokens, read by the unsteered model")
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.output_a, self.output_b = QTextBrowser(), QTextBrowser()
        outputs = QSplitter()
        outputs.addWidget(self.output_a)
        outputs.addWidget(self.output_b)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(outputs)
        layout.addWidget(split, 1)

    def set_saes(self, choices: list[tuple[str, str]]) -> None:
        fill_combo(self.sae_a, choices)
        fill_combo(self.sae_b, choices)

    def set_features(self, key_a: str, feature_a: int, key_b: str, feature_b: int) -> None:
        for combo, spin, key, feature in (
            (self.sae_a, self.feature_a, key_a, feature_a),
            (self.sae_b, self.feature_b, key_b, feature_b),
        ):
            index = combo.findData(key)
            if index >= 0:
                combo.setCurrentIndex(index)
            spin.setValue(feature)
        self.run_button.setFocus()
        self.summary.setText(f"Ready: steer f{feature_a} and f{feature_b} separately at the same strength.")

    def run(self) -> None:
        a, b = self.sae_a.currentData(), self.sae_b.currentData()
        if a and b:
            self.requested.emit(
                rq.Selectivity(
                    str(a),
                    self.feature_a.value(),
                    str(b),
                    self.feature_b.value(),
                    self.strength.value(),
                    self.unit.currentText(),
                    self.prompt.text().strip(),
                )
            )

    def show_result(self, result: Selectivity) -> None:
        a, b = result.feature_a.describe(), result.feature_b.describe()
        self.table.setHorizontalHeaderLabels(["output", f"A = {a}", f"B = {b}", "text"])
        self.table.setRowCount(len(result.rows))
        for r, row in enumerate(result.rows):
            fill_row(self.table, r, (row.name, f"{row.activation_a:.3f}", f"{row.activation_b:.3f}", row.text))
        scale = "× A's max activation" if result.scaled_by == "maxact" else "raw activation"
        self.summary.setText(
            f"<b>selectivity {result.selectivity:+.3f}</b> ({scale}): how much more A's steer raises A than B's "
            f"steer does · reverse (for B) {result.reverse:+.3f} · strength {result.strength:g} {result.unit}. "
            "Near 0: the two are not told apart by steering."
        )
        _, steer_a, steer_b = result.rows
        self.output_a.setHtml(f"<b>steer A ({a})</b><br>{html.escape(steer_a.text)}")
        self.output_b.setHtml(f"<b>steer B ({b})</b><br>{html.escape(steer_b.text)}")


# -- small helpers shared with compare_view.py ---------------------------------------------------------------
def make_table(columns: tuple[str, ...], tip: str) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
    table.setToolTip(tip)
    return table


def fill_row(table: QTableWidget, row: int, values: Sequence[str]) -> None:
    for column, value in enumerate(values):
        item = QTableWidgetItem(value)
        item.setToolTip(value)
        table.setItem(row, column, item)


def fill_combo(combo: QComboBox, choices: list[tuple[str, str]]) -> None:
    """Offer `choices` (text, SAE key): the SAE chosen before where it is still there, else the last (deepest,
    usually the most semantic) one; a default choice follows SAEs that load one after another."""
    current = combo.currentData()
    was_default = combo.currentIndex() == combo.count() - 1
    combo.clear()
    for text, key in choices:
        combo.addItem(text, key)
    index = combo.findData(current)
    combo.setCurrentIndex(index if index >= 0 and not was_default else combo.count() - 1)
