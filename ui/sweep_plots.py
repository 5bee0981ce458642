"""The Sweep view's plots (pyqtgraph), redrawn from a sweep's summary as its rows arrive:
- concept vs strength, one line per layer, with fluency (NLL per token) on a second axis below (the same
  strengths) and the baseline's concept and NLL as dashed lines; the best setting is starred;
- layer × strength heatmaps of concept and of NLL (ui/heatmap_grid.py's Grid);
- per-prompt steerability (the slope of concept over strength) as a strip of bars, anti-steerable ones in red.
Clicking a point or a heatmap cell asks for that cell's texts (`cellClicked`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from ui.heatmap_grid import Grid
from workbench.sweeps.summary import CellSummary, SweepSummary

# Okabe–Ito, as the PNG plots (workbench/sweeps/plots.py): one colour per layer.
COLOURS = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0), (86, 180, 233))
BASELINE = (120, 120, 120)
DASH = Qt.PenStyle.DashLine


class StrengthPlot:
    """Concept (above) and NLL (below: its own y axis on the same strengths) vs strength, in the plots' canvas.

    Two linked panels rather than a right-hand axis: pyqtgraph 0.14's right AxisItem crashes PySide6 6.12 on
    paint (a refcount error), and stacked panels read as the PNG plots (workbench/sweeps/plots.py) do."""

    def __init__(self, canvas: pg.GraphicsLayoutWidget, clicked: Callable[[str, float], None]) -> None:
        self.clicked = clicked  # with (sae key, strength) of a clicked point
        self.concept = _panel(canvas, 0, "concept (× max act)")
        self.nll = _panel(canvas, 1, "NLL per token")
        self.nll.setXLink(self.concept)
        self.legend = self.concept.addLegend(offset=(8, 8), labelTextSize="8pt")
        self.series = 0  # lines drawn (for tests)

    def clear_all(self) -> None:
        self.concept.clear()
        self.nll.clear()
        self.legend.clear()
        self.series = 0

    def show_summary(self, summary: SweepSummary, target: str, unit: str) -> None:
        self.clear_all()
        self.nll.setLabel("bottom", f"strength (× {unit})" if unit != "raw" else "strength (raw)")
        cells = [c for c in summary.cells if c.target == target]
        best = summary.best
        for i, (layer, sae) in enumerate(sorted({(c.layer, c.sae) for c in cells})):
            colour = COLOURS[i % len(COLOURS)]
            mine = sorted((c for c in cells if c.sae == sae), key=lambda c: c.strength)
            xs = [c.strength for c in mine]
            data = [(sae, x) for x in xs]
            concept = [np.nan if c.concept_mean is None else c.concept_mean for c in mine]
            nll = [np.nan if c.nll_mean is None else c.nll_mean for c in mine]
            pen = pg.mkPen(colour, width=2)
            line = self.concept.plot(xs, concept, pen=pen, symbol="o", symbolBrush=colour, name=f"L{layer}", data=data)
            fluency = self.nll.plot(xs, nll, pen=pen, symbol="t", symbolBrush=colour, data=data)
            for item in (line, fluency):
                item.sigPointsClicked.connect(self._clicked)
            self.series += 1
            if best is not None and best.get("sae") == sae and best.get("target") == target:
                y = next((c.concept_mean for c in mine if c.strength == best["strength"]), None)
                if y is not None:
                    star = pg.ScatterPlotItem([best["strength"]], [y], symbol="star", size=18, brush=(255, 200, 0))
                    star.setToolTip("best setting: the highest concept within the NLL budget")
                    self.concept.addItem(star)
        base = summary.baseline
        concept0 = base.get("concept", {}).get(target, {}).get("concept_mean")
        dashed = pg.mkPen(BASELINE, width=1.5, style=DASH)
        if concept0 is not None:
            self.concept.addItem(pg.InfiniteLine(concept0, angle=0, pen=dashed))
            self.legend.addItem(pg.PlotDataItem(pen=dashed), "baseline")
        if base.get("nll_mean") is not None:
            self.nll.addItem(pg.InfiniteLine(base["nll_mean"], angle=0, pen=dashed))

    def _clicked(self, _item: object, points: list[object], *_args: object) -> None:
        if len(points):
            sae, strength = points[0].data()  # type: ignore[attr-defined]
            self.clicked(str(sae), float(strength))


def _panel(canvas: pg.GraphicsLayoutWidget, row: int, label: str) -> pg.PlotItem:
    plot = canvas.addPlot(row=row, col=0)
    plot.setLabel("left", label)
    left = plot.getAxis("left")
    left.enableAutoSIPrefix(False)  # a concept of 0.013 reads as 0.013, not 13 "(×0.001)"
    left.setWidth(64)  # one width for the stacked panels, so a strength sits at the same x in each
    plot.setMenuEnabled(False)
    plot.hideButtons()
    return plot


class SteerabilityStrip:
    """One bar per (prompt, layer): the slope of concept over strength; red where it does not rise."""

    def __init__(self, canvas: pg.GraphicsLayoutWidget) -> None:
        self.plot = _panel(canvas, 2, "steerability")
        self.plot.setMouseEnabled(x=False, y=False)
        self.bars = 0

    def clear(self) -> None:
        self.plot.clear()
        self.bars = 0

    def show_summary(self, summary: SweepSummary, target: str) -> None:
        self.clear()
        prompts = [p for p in summary.prompts if p.target == target and p.steerability is not None]
        self.bars = len(prompts)
        if not prompts:
            return
        slopes = [float(p.steerability or 0.0) for p in prompts]
        brushes = [pg.mkBrush(200, 60, 50) if p.anti_steerable else pg.mkBrush(0, 114, 178) for p in prompts]
        self.plot.addItem(pg.BarGraphItem(x=np.arange(len(prompts)), height=slopes, width=0.8, brushes=brushes))
        several = len({p.layer for p in prompts}) > 1
        ticks = [(i, f"P{i + 1}" + (f"·L{p.layer}" if several else "")) for i, p in enumerate(prompts)]
        self.plot.getAxis("bottom").setTicks([ticks])
        anti = sum(1 for p in prompts if p.anti_steerable)
        lines = [f"P{i + 1}{' L' + str(p.layer) if several else ''}: {_short(p.prompt)}" for i, p in enumerate(prompts)]
        self.plot.setToolTip(
            f"Per-prompt steerability: {anti} of {len(prompts)} anti-steerable (red: concept does not rise)\n"
            + "\n".join(lines)
        )


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class SweepPlots(QWidget):
    """The line plot above, the two heatmaps and the steerability strip below."""

    cellClicked = Signal(str, float)  # sae key, strength

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # One pyqtgraph canvas for the line panels and the strip (each view costs memory and start-up time).
        self.canvas = pg.GraphicsLayoutWidget()
        self.lines = StrengthPlot(self.canvas, self.cellClicked.emit)
        self.strip = SteerabilityStrip(self.canvas)
        self.canvas.ci.layout.setRowStretchFactor(0, 3)
        self.canvas.ci.layout.setRowStretchFactor(1, 2)
        self.canvas.ci.layout.setRowStretchFactor(2, 2)
        self.concept_grid = Grid("viridis", "Concept per layer × strength appears as rows finish.")
        self.nll_grid = Grid("inferno", "NLL per layer × strength appears as rows finish.")
        self._axes: tuple[list[str], list[float]] = ([], [])  # heatmap rows (SAE keys) and columns (strengths)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.canvas)
        grids = QWidget()
        row = QHBoxLayout(grids)
        row.setContentsMargins(0, 0, 0, 0)
        for title, grid in (("concept", self.concept_grid), ("NLL", self.nll_grid)):
            box = QVBoxLayout()
            box.addWidget(QLabel(f"<b>{title}</b> · layer × strength (click a cell for its texts)"))
            box.addWidget(grid, 1)
            row.addLayout(box, 1)
        split.addWidget(grids)
        split.setSizes([380, 160])
        layout.addWidget(split)
        self.concept_grid.clicked.connect(self._grid_clicked)
        self.nll_grid.clicked.connect(self._grid_clicked)

    def clear(self, hint: str) -> None:
        self.lines.clear_all()
        self.concept_grid.show_hint(hint)
        self.nll_grid.show_hint(hint)
        self.strip.clear()

    def show_summary(self, summary: SweepSummary, target: str, unit: str) -> None:
        self.lines.show_summary(summary, target, unit)
        self.strip.show_summary(summary, target)
        cells = [c for c in summary.cells if c.target == target]
        if not cells:
            self.concept_grid.show_hint("Concept per layer × strength appears as rows finish.")
            self.nll_grid.show_hint("NLL per layer × strength appears as rows finish.")
            return
        layers = sorted({(c.layer, c.sae) for c in cells})
        strengths = sorted({c.strength for c in cells})
        self._axes = ([sae for _, sae in layers], strengths)
        labels = [f"L{layer}" for layer, _ in layers]
        columns = [f"{s:g}" for s in strengths]
        for grid, field in ((self.concept_grid, "concept_mean"), (self.nll_grid, "nll_mean")):
            matrix, levels = _matrix(cells, self._axes, field)
            grid.show_matrix(matrix, labels, columns, 0, levels)

    def _grid_clicked(self, row: int, column: int) -> None:
        saes, strengths = self._axes
        if 0 <= row < len(saes) and 0 <= column < len(strengths):
            self.cellClicked.emit(saes[row], strengths[column])


def _matrix(
    cells: list[CellSummary], axes: tuple[list[str], list[float]], field: str
) -> tuple[np.ndarray, tuple[float, float]]:
    """The layer × strength matrix of `field`; a cell without a value yet shows the lowest colour."""
    saes, strengths = axes
    values = {(c.sae, c.strength): getattr(c, field) for c in cells}
    known = [float(v) for v in values.values() if v is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    matrix = np.full((len(saes), len(strengths)), lo, dtype=np.float32)
    for r, sae in enumerate(saes):
        for c, s in enumerate(strengths):
            v = values.get((sae, s))
            if v is not None:
                matrix[r, c] = float(v)
    return matrix, (lo, hi if hi > lo else lo + 1e-6)
