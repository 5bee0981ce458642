"""Feature inspector (card, buttons and the Neighbours section) and the "did the steer take effect" table."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ui.neighbours_view import NeighboursSection
from workbench.analysis.effect import EffectRow
from workbench.analysis.inspect import FeatureCard


class InspectorPanel(QWidget):
    steerRequested = Signal(str, int)  # sae key, feature
    layersRequested = Signal(str, int)  # follow this feature across layers
    sweepRequested = Signal(str, int)  # open the Sweep view on this feature

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.card: FeatureCard | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("<i>Search above, click a heatmap cell or an edit's title to inspect a feature</i>")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        self.body = QTextBrowser()
        self.neighbours = NeighboursSection()
        card = QWidget()  # the card and its buttons above, the neighbours below, with a handle between
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(0, 0, 0, 0)
        card_layout.addWidget(self.body, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(card)
        split.addWidget(self.neighbours)
        split.setSizes([340, 300])
        layout.addWidget(split, 1)
        buttons = QHBoxLayout()
        self.steer_button = QPushButton("Steer with this feature")
        self.steer_button.setToolTip("Add this feature to the selected variant")
        self.steer_button.setEnabled(False)
        self.steer_button.clicked.connect(self._steer)
        self.layers_button = QPushButton("Across layers")
        self.layers_button.setToolTip(
            "Follow this feature across the SAE layers: the heatmap's 'One feature × layers' tab shows it and its\n"
            "nearest decoder direction at each other layer, token by token"
        )
        self.layers_button.setEnabled(False)
        self.layers_button.clicked.connect(self._layers)
        self.sweep_button = QPushButton("Sweep…")
        self.sweep_button.setToolTip("Measure where this feature steers: strength × layer × prompt (the Sweep tab)")
        self.sweep_button.setEnabled(False)
        self.sweep_button.clicked.connect(self._sweep)
        buttons.addWidget(self.steer_button, 1)
        buttons.addWidget(self.layers_button)
        buttons.addWidget(self.sweep_button)
        card_layout.addLayout(buttons)

    def show_card(self, card: FeatureCard) -> None:
        self.card = card
        imported = f" · <i>imported:</i> {html.escape(card.imported_label)}" if card.imported_label else ""
        self.title.setText(
            f"<b>f{card.feature}</b> · layer {card.layer} ({card.sae_key}) · {html.escape(card.label)}{imported}"
        )
        if card.max_activation is None:
            stats = "<p><i>No statistics yet for this SAE (run <code>steering-workbench stats</code>).</i></p>"
        else:
            source = html.escape(card.statistics_source or "")
            stats = (
                f"<p>max activation <b>{card.max_activation:.3g}</b> · density <b>{card.density:.3%}</b> · "
                f"mean when active <b>{card.mean_activation:.3g}</b><br><small>on {source}</small></p>"
            )
        promoted = ", ".join(f"{html.escape(repr(t))} ({v:+.2f})" for t, v in card.promoted)
        suppressed = ", ".join(f"{html.escape(repr(t))} ({v:+.2f})" for t, v in card.suppressed)
        examples = "".join(
            "<li>"
            + html.escape(text).replace("[[", "<b><u>").replace("]]", "</u></b>")
            + f" <small>({act:.2f})</small></li>"
            for text, act in card.examples
        )
        examples = f"<p><b>Top-activating examples</b></p><ol>{examples}</ol>" if examples else ""
        self.body.setHtml(f"{stats}<p><b>Promotes</b> {promoted}</p><p><b>Suppresses</b> {suppressed}</p>{examples}")
        self.steer_button.setEnabled(True)
        self.layers_button.setEnabled(True)
        self.sweep_button.setEnabled(True)
        if self.neighbours.data is None or (self.neighbours.data.sae_key, self.neighbours.data.feature) != (
            card.sae_key,
            card.feature,
        ):
            self.neighbours.waiting_for(card.layer, card.feature)

    def _steer(self) -> None:
        if self.card is not None:
            self.steerRequested.emit(self.card.sae_key, self.card.feature)

    def _sweep(self) -> None:
        if self.card is not None:
            self.sweepRequested.emit(self.card.sae_key, self.card.feature)

    def _layers(self) -> None:
        if self.card is not None:
            self.layersRequested.emit(self.card.sae_key, self.card.feature)


class EffectTable(QTableWidget):
    """Per steered feature: its activation on the baseline's output vs the variant's, as the plain model reads it."""

    HEADERS = ("variant", "feature", "baseline mean", "variant mean", "baseline max", "variant max")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.HEADERS), parent)
        self.setHorizontalHeaderLabels(self.HEADERS)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setToolTip(
            "Did the steer take effect? The steered features re-measured by the unsteered model on "
            "each text's generated tokens"
        )

    def show_rows(self, rows: list[EffectRow]) -> None:
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = (
                row.variant,
                f"L{row.layer} f{row.feature}",
                f"{row.baseline_mean:.3f}",
                f"{row.variant_mean:.3f}",
                f"{row.baseline_max:.3f}",
                f"{row.variant_max:.3f}",
            )
            for c, value in enumerate(values):
                self.setItem(r, c, QTableWidgetItem(value))
