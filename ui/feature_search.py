"""Feature search: type a label word or an id, see matching features of every loaded SAE, open or steer one.

The labels and densities arrive once per SAE (a small index from the model process); the search itself is
workbench.analysis.feature_search, run here on a short debounce, so results follow typing even while the model
process is busy generating. Results always belong to the newest text in the field.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.analysis.feature_search import FeatureHit, FeatureIndex, search_features

DEBOUNCE_MS = 150
LIMIT = 50
SEARCH_TIP = (
    "Search the loaded SAEs' features by label word ('ocean'), by id ('3877', 'f3877'),\n"
    "or in one layer ('L15 ocean', '15:3877'). Exact label words rank first.\n"
    "Enter: inspect the first result · ↓: go to the results"
)


class _Field(QLineEdit):
    """The query field: ↓ moves to the results, Enter opens the best one."""

    down = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # Qt override
        if event.key() == Qt.Key.Key_Down:
            self.down.emit()
            return
        super().keyPressEvent(event)


class FeatureSearch(QWidget):
    inspectRequested = Signal(str, int)  # sae key, feature
    steerRequested = Signal(str, int)
    layersRequested = Signal(str, int)
    sweepRequested = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.indexes: dict[str, FeatureIndex] = {}
        self._keys: list[str] = []  # the loaded SAEs
        self.hits: list[FeatureHit] = []
        self.query = ""  # the text the shown results belong to
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.field = _Field()
        self.field.setPlaceholderText("Search features: label or id (Ctrl+F)")
        self.field.setClearButtonEnabled(True)
        self.field.setToolTip(SEARCH_TIP)
        layout.addWidget(self.field)
        self.status = QLabel("")
        self.status.setObjectName("hint")
        layout.addWidget(self.status)
        self.results = QTreeWidget()
        self.results.setHeaderLabels(["layer", "id", "label", "density"])
        self.results.setRootIsDecorated(False)
        self.results.setUniformRowHeights(True)
        self.results.setAlternatingRowColors(True)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setToolTip("Double-click or Enter: open in the inspector")
        header = self.results.header()
        header.setStretchLastSection(False)
        for column, mode in enumerate(
            (
                QHeaderView.ResizeMode.ResizeToContents,
                QHeaderView.ResizeMode.ResizeToContents,
                QHeaderView.ResizeMode.Stretch,
                QHeaderView.ResizeMode.ResizeToContents,
            )
        ):
            header.setSectionResizeMode(column, mode)
        layout.addWidget(self.results, 1)
        buttons = QHBoxLayout()
        self.inspect_button = QPushButton("Inspect")
        self.inspect_button.setToolTip("Open the selected feature in the inspector (Enter)")
        self.steer_button = QPushButton("Steer")
        self.steer_button.setToolTip("Add the selected feature as an edit to the selected variant")
        self.layers_button = QPushButton("Across layers")
        self.layers_button.setToolTip("Follow the selected feature across the SAE layers (heatmap tab)")
        self.sweep_button = QPushButton("Sweep…")
        self.sweep_button.setToolTip("Sweep the selected feature: strength × layer × prompt (the Sweep tab)")
        for button, signal in (
            (self.inspect_button, self.inspectRequested),
            (self.steer_button, self.steerRequested),
            (self.layers_button, self.layersRequested),
            (self.sweep_button, self.sweepRequested),
        ):
            button.clicked.connect(lambda _c=False, s=signal: self._emit_selected(s))
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.run)
        self.field.textChanged.connect(lambda _t: self._timer.start())
        self.field.returnPressed.connect(self._enter)
        self.field.down.connect(self._to_results)
        self.results.itemActivated.connect(lambda _i, _c: self._emit_selected(self.inspectRequested))
        self.results.currentItemChanged.connect(lambda _a, _b: self._update_buttons())
        self._update_buttons()

    # -- data ---------------------------------------------------------------------------------------------------
    def set_saes(self, keys: list[str]) -> None:
        """The loaded SAEs changed: forget the indexes of those that are gone (callers fetch the `missing` ones)."""
        self.indexes = {k: v for k, v in self.indexes.items() if k in keys}
        self._keys = keys
        self.run()

    def missing(self, keys: list[str]) -> list[str]:
        return [k for k in keys if k not in self.indexes]

    def add_indexes(self, indexes: list[FeatureIndex]) -> None:
        for index in indexes:
            self.indexes[index.sae_key] = index
            index.prepared  # noqa: B018 -- build its search tables now (they arrive one SAE per event), not on a keystroke
        if self.field.text().strip():
            self.run()
        else:
            self._update_status()

    # -- search -------------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Search now for the field's text (the debounce timer calls this)."""
        self._timer.stop()
        self.query = self.field.text()
        self.hits = search_features(list(self.indexes.values()), self.query, LIMIT) if self.query.strip() else []
        self.results.clear()
        items = []
        for hit in self.hits:
            density = f"{hit.density:.2%}" if hit.density is not None else "—"
            item = QTreeWidgetItem([f"L{hit.layer}", str(hit.feature), hit.label, density])
            item.setToolTip(2, f"{hit.sae_key} · f{hit.feature} · {hit.label}")
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setTextAlignment(3, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            items.append(item)
        self.results.addTopLevelItems(items)
        if items:
            self.results.setCurrentItem(items[0])
        self._update_status()
        self._update_buttons()

    def _update_status(self) -> None:
        loading = bool(self.missing(self._keys))
        if not self.query.strip():
            text = "feature labels loading…" if loading else ""
        elif not self.hits:
            text = "no matching feature" + (" (labels still loading)" if loading else "")
        else:
            more = "+" if len(self.hits) >= LIMIT else ""
            text = f"{len(self.hits)}{more} matching feature{'s' if len(self.hits) != 1 else ''}"
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def selected(self) -> FeatureHit | None:
        item = self.results.currentItem()
        if item is None:
            return None
        row = self.results.indexOfTopLevelItem(item)
        return self.hits[row] if 0 <= row < len(self.hits) else None

    def focus(self) -> None:
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    def _enter(self) -> None:
        if self.query != self.field.text():
            self.run()
        self._emit_selected(self.inspectRequested)

    def _to_results(self) -> None:
        if self.results.topLevelItemCount():
            self.results.setFocus()
            first = self.results.topLevelItem(0)
            if self.results.currentItem() is None and first is not None:
                self.results.setCurrentItem(first)

    def _emit_selected(self, signal: object) -> None:
        hit = self.selected()
        if hit is not None:
            signal.emit(hit.sae_key, hit.feature)  # type: ignore[attr-defined]

    def _update_buttons(self) -> None:
        on = self.selected() is not None
        for button in (self.inspect_button, self.steer_button, self.layers_button, self.sweep_button):
            button.setEnabled(on)
