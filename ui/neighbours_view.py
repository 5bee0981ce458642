"""The inspector's Neighbours section: the features near the inspected one by decoder and encoder cosine and by
co-activation on the reference corpus (Jaccard, correlation), with labels and densities.

Cosine neighbours arrive at once; co-activation needs one pass of the model over the corpus (about two minutes
the first time, then cached), so it is computed when asked, with progress and cancel, and shown when it arrives.
Double-click a neighbour to inspect it; "Compare" opens differential steering with it.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.analysis.neighbours import FeatureNeighbours, Neighbour
from workbench.progress import Progress

COLUMNS = ("f", "label", "dec", "enc", "Jacc", "corr", "dens")
TIPS = (
    "Feature id (double-click: inspect it)",
    "Automatic label; an imported label follows after ‘⇐’",
    "Decoder cosine (the decoder direction is what steering adds). High: steering one moves the other's direction too",
    "Encoder cosine (the encoder direction is what a feature reads). High: they compete for the same inputs",
    "Jaccard index of the tokens both fire on, on the reference corpus (co-activation)",
    "Correlation of the two activations over the reference corpus's tokens (co-activation)",
    "Density: the share of the reference tokens the feature fires on",
)
COACTIVATION_TIP = (
    "Measure which features fire on the same tokens: one pass of the model over the reference corpus for\n"
    "every loaded SAE (about two minutes the first time on a CPU; cached afterwards)"
)


class _Row(QTreeWidgetItem):
    """Sorts numeric columns by value (missing values last), the others as text."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        mine, theirs = self.data(column, Qt.ItemDataRole.UserRole), other.data(column, Qt.ItemDataRole.UserRole)
        if isinstance(mine, float | int) and isinstance(theirs, float | int):
            return mine < theirs
        if mine is None or theirs is None:
            return theirs is not None  # missing values sort first ascending, i.e. last when descending
        return self.text(column) < other.text(column)


class NeighboursSection(QWidget):
    inspectRequested = Signal(str, int)  # sae key, neighbour
    compareRequested = Signal(str, int, int)  # sae key, inspected feature, neighbour
    coactivationRequested = Signal(str, int)  # sae key, feature
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: FeatureNeighbours | None = None
        self.has_coactivation = False
        self._summary = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Neighbours</b> <small>(in this SAE)</small>"))
        self.status = QLabel("Inspect a feature to see its neighbours.")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.table = QTreeWidget()
        self.table.setHeaderLabels(list(COLUMNS))
        for column, tip in enumerate(TIPS):
            self.table.headerItem().setToolTip(column, tip)
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.header()
        header.setStretchLastSection(False)
        for column in range(len(COLUMNS)):
            mode = QHeaderView.ResizeMode.Stretch if column == 1 else QHeaderView.ResizeMode.ResizeToContents
            header.setSectionResizeMode(column, mode)
        self.table.itemActivated.connect(lambda _i, _c: self._inspect())
        self.table.currentItemChanged.connect(lambda _a, _b: self._update_buttons())
        layout.addWidget(self.table, 1)
        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the co-activation pass (the cosine neighbours stay)")
        self.cancel_button.clicked.connect(self.cancelRequested)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        layout.addLayout(progress_row)
        buttons = QHBoxLayout()
        self.inspect_button = QPushButton("Inspect")
        self.inspect_button.setToolTip("Open the selected neighbour in the inspector (or double-click it)")
        self.inspect_button.clicked.connect(self._inspect)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip(
            "Differential steering: steer this feature, and separately the selected neighbour, at the same\n"
            "strength, and read both on each output (Compare tab)"
        )
        self.compare_button.clicked.connect(self._compare)
        self.coactivation_button = QPushButton("Co-activation")
        self.coactivation_button.setToolTip(COACTIVATION_TIP)
        self.coactivation_button.clicked.connect(self._coactivation)
        for button in (self.inspect_button, self.compare_button, self.coactivation_button):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self._set_running(False)
        self._update_buttons()

    # -- incoming -----------------------------------------------------------------------------------------------
    def waiting_for(self, layer: int, feature: int) -> None:
        """A feature was inspected: its neighbours are on their way."""
        self.data = None
        self.table.clear()
        self.status.setText(f"finding the neighbours of L{layer} f{feature}…")
        self._update_buttons()

    def show_neighbours(
        self, data: FeatureNeighbours, coactivation: bool, imported: tuple[tuple[int, str], ...] = ()
    ) -> None:
        self.data, self.has_coactivation = data, coactivation
        labels = dict(imported)
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.addTopLevelItems([self._item(n, labels.get(n.feature)) for n in data.neighbours])
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        first = self.table.topLevelItem(0)
        if first is not None:
            self.table.setCurrentItem(first)
        how = "decoder/encoder cosine and co-activation" if coactivation else "decoder and encoder cosine"
        self._summary = f"{len(data.neighbours)} neighbours of L{data.layer} f{data.feature} by {how}"
        more = "" if coactivation else " · Co-activation adds Jaccard and correlation"
        self.status.setText(self._summary + more)
        self._update_buttons()

    def _item(self, n: Neighbour, imported: str | None) -> QTreeWidgetItem:
        label = n.label + (f"  ⇐ {imported}" if imported else "")
        values: list[float | None] = [n.decoder_cosine, n.encoder_cosine, n.jaccard, n.correlation, n.density]
        texts = [_number(v) for v in values[:4]] + [f"{n.density:.1%}" if n.density is not None else "—"]
        item = _Row([str(n.feature), label, *texts])
        item.setData(0, Qt.ItemDataRole.UserRole, n.feature)
        for column, value in enumerate(values, start=2):
            item.setData(column, Qt.ItemDataRole.UserRole, value)
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setToolTip(1, html.escape(label))
        if n.decoder_cosine >= 0.7:
            item.setToolTip(2, "near-duplicate direction: steering one moves the other almost as much")
        return item

    def show_progress(self, p: Progress) -> None:
        self._set_running(True)
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
        else:
            self.progress.setRange(0, 0)
        self.progress.setFormat(p.phase)
        # A busy bar draws no text in most styles: the phase goes in the status line too.
        step = f" ({p.done}/{p.total})" if p.total else ""
        self.status.setText(f"{self._summary} · {p.phase}{step}" if self._summary else f"{p.phase}{step}")

    def ended(self, outcome: str = "") -> None:
        """The neighbours job ended (finished, failed or cancelled: `outcome` says which when not plain)."""
        self._set_running(False)
        if outcome:
            self.status.setText(f"{self._summary} · {outcome}" if self.data is not None else f"neighbours: {outcome}")
        self._update_buttons()

    # -- outgoing -----------------------------------------------------------------------------------------------
    def selected(self) -> int | None:
        item = self.table.currentItem()
        value = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        return int(value) if isinstance(value, int) else None

    def _inspect(self) -> None:
        if self.data is not None and (other := self.selected()) is not None:
            self.inspectRequested.emit(self.data.sae_key, other)

    def _compare(self) -> None:
        if self.data is not None and (other := self.selected()) is not None:
            self.compareRequested.emit(self.data.sae_key, self.data.feature, other)

    def _coactivation(self) -> None:
        if self.data is not None:
            self.coactivationRequested.emit(self.data.sae_key, self.data.feature)

    def _set_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self.coactivation_button.setEnabled(not running and self.data is not None and not self.has_coactivation)

    def _update_buttons(self) -> None:
        chosen = self.data is not None and self.selected() is not None
        self.inspect_button.setEnabled(chosen)
        self.compare_button.setEnabled(chosen)
        running = self.progress.isVisibleTo(self)
        self.coactivation_button.setEnabled(not running and self.data is not None and not self.has_coactivation)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
