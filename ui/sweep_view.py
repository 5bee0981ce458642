"""The Sweep view (a tab beside the heatmaps): the form above; the plots; at the right the session's sweeps (pick,
resume, remove), the best setting, and a clicked cell's texts side by side with the baseline, with "Use this
setting". The view only draws what it is given and says what the user asked (ui/sweep_tools.py does the rest)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.sweep_form import DEAD_TIP, SweepForm
from ui.sweep_plots import SweepPlots
from workbench.session.sweeps import DONE, RUNNING, SavedSweep
from workbench.sweeps.records import SweepRow
from workbench.sweeps.summary import SweepSummary

TEXT_COLUMNS = ("prompt", "seed", "baseline", "this cell", "concept", "NLL")
RESUME_TIP = "Run the rest of this sweep: finished rows are read back, not generated again"


class SweepView(QWidget):
    sweepChosen = Signal(str)  # sweep id
    resumeRequested = Signal(str)
    removeRequested = Signal(str)
    useRequested = Signal(str, str, float)  # sweep id, sae key, strength

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = SweepForm()
        # The plots are built when a sweep is first shown: five pyqtgraph views cost start-up time, and a window
        # that never sweeps need not carry them.
        self._plots: SweepPlots | None = None
        self.plots_host = QStackedWidget()
        self.plots_hint = QLabel("Run a sweep: its plots fill in as rows finish.")
        self.plots_hint.setObjectName("hint")
        self.plots_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.plots_host.addWidget(self.plots_hint)
        self.sweep: SavedSweep | None = None
        self.summary: SweepSummary | None = None
        self.cell: tuple[str, float] | None = None  # the clicked cell (sae key, strength)
        self.chooser = QComboBox()
        self.chooser.setToolTip("The session's sweeps")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip(RESUME_TIP)
        self.remove_button = QPushButton("Remove")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.best = QLabel("")
        self.best.setWordWrap(True)
        self.cell_title = QLabel("<i>Click a point or a heatmap cell to read its texts beside the baseline.</i>")
        self.cell_title.setWordWrap(True)
        self.texts = QTableWidget(0, len(TEXT_COLUMNS))
        self.texts.setHorizontalHeaderLabels(TEXT_COLUMNS)
        self.texts.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.texts.setWordWrap(True)
        self.texts.verticalHeader().setVisible(False)
        header = self.texts.horizontalHeader()
        for column in range(len(TEXT_COLUMNS)):
            stretch = column in (0, 2, 3)
            header.setSectionResizeMode(
                column, QHeaderView.ResizeMode.Stretch if stretch else QHeaderView.ResizeMode.ResizeToContents
            )
        self.use_button = QPushButton("Use this setting")
        self.use_button.setToolTip("Put this cell's feature and strength into the selected variant (undoable)")
        self.use_button.setEnabled(False)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        pick = QHBoxLayout()
        pick.addWidget(self.chooser, 1)
        pick.addWidget(self.resume_button)
        pick.addWidget(self.remove_button)
        side_layout.addLayout(pick)
        for w in (self.status, self.best, self.cell_title):
            side_layout.addWidget(w)
        side_layout.addWidget(self.texts, 1)
        side_layout.addWidget(self.use_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.plots_host)
        split.addWidget(side)
        split.setSizes([620, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.form)
        layout.addWidget(split, 1)

        self.chooser.currentIndexChanged.connect(self._chosen)
        self.resume_button.clicked.connect(self._resume)
        self.remove_button.clicked.connect(self._remove)
        self.use_button.clicked.connect(self._use)
        self.show_sweep(None, [], running=False)

    @property
    def plots(self) -> SweepPlots:
        if self._plots is None:
            self._plots = SweepPlots()
            self._plots.cellClicked.connect(self.show_cell)
            self.plots_host.addWidget(self._plots)
        return self._plots

    # -- drawing ------------------------------------------------------------------------------------------------
    def set_sweeps(self, sweeps: list[SavedSweep], shown: str | None) -> None:
        """The chooser lists the session's sweeps, newest last, `shown` selected."""
        self.chooser.blockSignals(True)
        self.chooser.clear()
        for n, s in enumerate(sweeps, 1):
            self.chooser.addItem(f"{n}. {s.title}", s.id)
        index = self.chooser.findData(shown)
        self.chooser.setCurrentIndex(index)
        self.chooser.blockSignals(False)

    def _chosen(self, index: int) -> None:
        sweep_id = self.chooser.itemData(index)
        if sweep_id:
            self.sweepChosen.emit(str(sweep_id))

    def show_sweep(self, sweep: SavedSweep | None, rows_total: list[int], running: bool) -> None:
        """Redraw for `sweep` (None: no sweep yet); `rows_total` holds its grid's row count once known."""
        if sweep is None or (self.sweep is not None and sweep.id != self.sweep.id):
            self.cell = None
        self.sweep = sweep
        self.resume_button.setVisible(sweep is not None and sweep.run.status != DONE and not running)
        self.remove_button.setEnabled(sweep is not None)
        if sweep is None:
            self.summary = None
            self.status.setText("<i>Pick a feature and a recipe, then Run sweep.</i>")
            self.best.setText("")
            self.plots_host.setCurrentWidget(self.plots_hint)
            self._show_texts()
            return
        self.form.show_thresholds(sweep.thresholds)
        self.summary = summary = sweep.summary()
        run = sweep.run
        total = f" of {rows_total[0]}" if rows_total else ""
        state = "running" if running and run.status == RUNNING else run.status
        if run.status == RUNNING and not running:
            state = "unfinished (Resume runs the rest)"
        rows = len(run.rows) + len(run.baseline)
        self.status.setText(f"<b>{html.escape(sweep.title)}</b> · {rows}{total} rows · {html.escape(state)}")
        self.best.setText(_best_text(summary))
        target = sweep.run.targets[0].name if sweep.run.targets else None
        self.plots_host.setCurrentWidget(self.plots)
        if target is None:
            self.plots.clear("Waiting for the first rows…")
        else:
            self.plots.show_summary(summary, target, sweep.spec.unit.value)
        self._show_texts()

    def show_cell(self, sae: str, strength: float) -> None:
        self.cell = (sae, strength)
        self._show_texts()

    def _show_texts(self) -> None:
        sweep, cell = self.sweep, self.cell
        rows = [r for r in sweep.run.rows if (r.sae, r.strength) == cell] if sweep and cell else []
        self.use_button.setEnabled(bool(rows))
        self.texts.setRowCount(len(rows))
        if not rows or sweep is None or cell is None:
            return
        first = rows[0]
        self.cell_title.setText(
            f"<b>L{first.layer} f{first.feature}</b> ({html.escape(cell[0])}) at <b>{cell[1]:g}</b> "
            f"× {sweep.spec.unit.value} · {len(rows)} texts"
        )
        baseline = {(r.prompt, r.system, r.chat, r.seed): r for r in sweep.run.baseline}
        for i, row in enumerate(rows):
            base = baseline.get((row.prompt, row.system, row.chat, row.seed))
            concept = row.concept.get(row.target or "", 0.0)
            values = (
                row.prompt,
                str(row.seed),
                base.text if base else "—",
                row.text,
                f"{concept:.3g}" + (f" ({_concept(base, row):+.3g})" if base else ""),
                "—" if row.nll is None else f"{row.nll:.2f}",
            )
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.texts.setItem(i, c, item)
        self.texts.resizeRowsToContents()

    def set_model_alive(self, alive: bool) -> None:
        """Run sweep and Resume are off while the model process is dead (ui/model_recovery.py)."""
        self.form.set_model_alive(alive)
        self.resume_button.setEnabled(alive)
        self.resume_button.setToolTip(RESUME_TIP if alive else DEAD_TIP)

    # Slots, not lambdas that return what emit returns: PySide6 6.12 mis-counts references to a slot's result.
    def _resume(self) -> None:
        if self.sweep is not None:
            self.resumeRequested.emit(self.sweep.id)

    def _remove(self) -> None:
        if self.sweep is not None:
            self.removeRequested.emit(self.sweep.id)

    def _use(self) -> None:
        if self.sweep is not None and self.cell is not None:
            self.useRequested.emit(self.sweep.id, *self.cell)


def _concept(base: SweepRow, row: SweepRow) -> float:
    """How much the cell's concept exceeds the same prompt and seed's baseline concept."""
    target = row.target or ""
    return row.concept.get(target, 0.0) - base.concept.get(target, 0.0)


def _best_text(summary: SweepSummary) -> str:
    t = summary.thresholds
    budget = f"NLL within +{t.max_nll_increase:g} of the baseline"
    b = summary.best
    if b is None:
        return f"Best setting: none yet ({budget})"
    reliability = next((c.reliability for c in summary.cells if (c.sae, c.strength) == (b["sae"], b["strength"])), None)
    share = (
        ""
        if reliability is None
        else f", beats the baseline by {t.reliability_margin:g} on {reliability:.0%} of prompts"
    )
    return (
        f"Best setting ({budget}): <b>L{b['layer']} f{b['feature']} at {b['strength']:g} × {b['unit']}</b> · "
        f"concept {b['concept_mean']:.3g}, NLL {b['nll_mean']:.2f}{share}"
    )
