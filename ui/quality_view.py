"""The SAE quality panel (Model > SAE quality…): one SAE's figures beside their baselines and intervals, on the
shipped held-out corpus or the user's own text file, with the feature-density histogram, progress and Cancel.

Every figure is workbench/analysis/sae_quality.py's, measured in the model process (rq.SaeQuality); this view
only asks and shows. A robust FVE below 0.5 gets a warning above the figures: such an SAE probably reads another
hook or expects another normalisation than the loaded model gives it, the usual failure of a registry SAE.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.quality_plot import DensityPlot
from workbench.analysis.sae_quality import DEFAULT_TEXTS, LOW_FVE, SaeQualityReport
from workbench.jobs import requests as rq
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary

TEXT_FILTER = "Texts (*.txt *.jsonl *.ndjson *.jsonl.gz);;All files (*)"
WARNING_STYLE = "background:#fdecea; color:#8a1c12; border:1px solid #e0a39b; border-radius:3px; padding:6px;"


def figure_rows(report: SaeQualityReport) -> list[tuple[str, str, str]]:
    """(figure, value, what stands beside it) for each row of the table, as the panel shows them."""
    m = report.metrics
    low, high = m.fve_ci
    massive = m.massive_tokens
    dead = round(m.dead_fraction * report.feature_density.size)

    def versus(baseline: float | None) -> str:
        """Whether the SAE beats the baseline: an SAE that does not is no better than a fixed basis."""
        return (
            "" if baseline is None else " · the SAE does better" if m.fve > baseline else " · the SAE does NOT beat it"
        )

    def maybe(value: float | None) -> str:
        return "n/a (one text)" if value is None else f"{value:.3f}"

    return [
        (
            "FVE, massive tokens left out",
            f"{m.fve:.3f}  [{low:.3f}, {high:.3f}]",
            "95 % interval, bootstrap over texts",
        ),
        (
            "   PCA baseline, k = L0",
            maybe(m.pca_fve),
            f"{round(m.l0)} components, fit on other texts{versus(m.pca_fve)}",
        ),
        (
            "   random decoder, k = L0",
            maybe(m.random_fve),
            f"random unit directions, least squares{versus(m.random_fve)}",
        ),
        (
            "FVE with massive tokens",
            f"{m.fve_all:.3f}",
            f"{massive.count:,} massive tokens (norm > {massive.factor:g} × median {massive.median_norm:,.0f})",
        ),
        ("normalised MSE", f"{m.normalized_mse:.3f}", "Σ‖x − x̂‖² / Σ‖x‖²"),
        ("CE-loss recovered", f"{m.ce_loss_recovered:.3f}", f"Δ loss {m.delta_loss:.3f} nats (clean {m.ce_clean:.3f})"),
        ("KL to the clean model", f"{m.kl:.3f} nats", "per predicted token, SAE spliced in"),
        ("L0", f"{m.l0:.1f}", "features active per token"),
        (
            "dead features",
            f"{m.dead_fraction:.1%}",
            f"{dead:,} of {report.feature_density.size:,} never fire on these tokens",
        ),
        ("dense features", f"{m.dense_fraction:.2%}", "fire on more than 10 % of tokens"),
        ("tokens scored", f"{m.n_tokens:,}", f"in {m.n_texts:,} texts, position 0 left out"),
    ]


class QualityView(QWidget):
    """Choose an SAE and texts, Measure, read the figures; `requested(rq.SaeQuality)` and `cancelRequested`."""

    requested = Signal(object)
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: SaeQualityReport | None = None
        layout = QVBoxLayout(self)

        form = QGridLayout()
        self.sae = QComboBox()
        self.sae.setToolTip("The loaded SAE to measure")
        form.addWidget(QLabel("SAE"), 0, 0)
        form.addWidget(self.sae, 0, 1, 1, 3)
        self.shipped = QRadioButton("Shipped held-out corpus, first")
        self.shipped.setChecked(True)
        self.max_texts = QSpinBox()
        self.max_texts.setRange(1, 2000)
        self.max_texts.setValue(DEFAULT_TEXTS)
        self.max_texts.setSuffix(" texts")
        self.max_texts.setToolTip("The shipped quality table uses the first 80 (a few seconds per text on a CPU)")
        self.own = QRadioButton("My text file")
        group = QButtonGroup(self)
        group.addButton(self.shipped)
        group.addButton(self.own)
        self.path = QLineEdit()
        self.path.setPlaceholderText('one text per line, or JSONL with a "text" field')
        self.path.textEdited.connect(lambda _t: self.own.setChecked(True))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        shipped_row = QHBoxLayout()
        shipped_row.addWidget(self.shipped)
        shipped_row.addWidget(self.max_texts)
        shipped_row.addStretch(1)
        form.addWidget(QLabel("Texts"), 1, 0)
        form.addLayout(shipped_row, 1, 1, 1, 3)
        form.addWidget(self.own, 2, 1)
        form.addWidget(self.path, 2, 2)
        form.addWidget(browse, 2, 3)
        form.setColumnStretch(2, 1)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.measure = QPushButton("Measure")
        self.measure.clicked.connect(self._measure)
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.cancelRequested)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.idle("idle")
        buttons.addWidget(self.measure)
        buttons.addWidget(self.cancel)
        buttons.addWidget(self.progress, 1)
        layout.addLayout(buttons)

        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(WARNING_STYLE)
        self.warning.setVisible(False)
        layout.addWidget(self.warning)

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["figure", "value", "beside it"])
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)  # one line a row: rows measured before the dialog has its width stay right
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.measured_on = QLabel("Nothing measured yet: choose an SAE and texts, then Measure.")
        self.measured_on.setWordWrap(True)
        self.measured_on.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = DensityPlot()
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._fit_table()
        layout.addWidget(self.table)
        layout.addWidget(self.measured_on)
        layout.addWidget(self.plot, 1)  # the table is as tall as its rows; the histogram takes the rest

    def _fit_table(self) -> None:
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        self.table.setFixedHeight(
            self.table.horizontalHeader().sizeHint().height() + rows + 2 * self.table.frameWidth()
        )

    # -- outgoing -----------------------------------------------------------------------------------------------
    def request(self) -> rq.SaeQuality | None:
        """The request the form describes; None (with the reason shown) when it is incomplete."""
        key = self.sae.currentData()
        if key is None:
            self.idle("load a model with SAEs first")
            return None
        if self.own.isChecked():
            path = self.path.text().strip()
            if not path:
                self.idle("choose a text file, or the shipped corpus")
                return None
            return rq.SaeQuality(str(key), path, max_texts=self.max_texts.value())
        return rq.SaeQuality(str(key), rq.SHIPPED_TEXTS, max_texts=self.max_texts.value())

    def _measure(self) -> None:
        request = self.request()
        if request is not None:
            self.running()
            self.requested.emit(request)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Texts to measure the SAE on", "", TEXT_FILTER)
        if path:
            self.path.setText(path)
            self.own.setChecked(True)

    # -- incoming -----------------------------------------------------------------------------------------------
    def set_saes(self, saes: list[SaeSummary]) -> None:
        current = self.sae.currentData()
        self.sae.clear()
        for s in saes:
            self.sae.addItem(f"layer {s.layer}  ·  {s.key}  ·  {s.d_sae:,} features", s.key)
        index = self.sae.findData(current)
        self.sae.setCurrentIndex(index if index >= 0 else self.sae.count() - 1)
        self.measure.setEnabled(bool(saes) and not self.cancel.isEnabled())

    def running(self) -> None:
        self.measure.setEnabled(False)
        self.cancel.setEnabled(True)
        self.show_progress(Progress("starting…"))

    def show_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(min(p.done, p.total))
            self.progress.setFormat(f"{p.phase}: text {p.done} of {p.total}")
        else:
            self.progress.setRange(0, 0)  # busy: the baselines and the bootstrap have no steps
            self.progress.setFormat(p.phase)

    def idle(self, message: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if message == "done" else 0)
        self.progress.setFormat(message)
        self.measure.setEnabled(self.sae.count() > 0)
        self.cancel.setEnabled(False)

    def show_report(self, report: SaeQualityReport) -> None:
        self.report = report
        index = self.sae.findData(report.sae_key)
        if index >= 0:
            self.sae.setCurrentIndex(index)
        rows = figure_rows(report)
        self.table.setRowCount(len(rows))
        for r, cells in enumerate(rows):
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if r == 0 and c < 2:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        self._fit_table()
        self.measured_on.setText(f"<b>L{report.layer}</b> · {report.sae}<br>Measured on {report.texts}.")
        self.measured_on.setToolTip(report.sae)
        low = report.metrics.fve < LOW_FVE
        self.warning.setVisible(low)
        self.warning.setText(
            f"<b>⚠ Robust FVE {report.metrics.fve:.2f} is below {LOW_FVE}</b>: probably the wrong hook or "
            "normalisation — common with registry SAEs. Check the hook the SAE was trained on and whether it "
            "expects normalised input; its features will not mean what their labels say on this model."
            if low
            else ""
        )
        self.plot.show_density(report.feature_density)
