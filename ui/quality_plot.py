"""The quality panel's feature-density histogram (pyqtgraph): how many features fire on what fraction of the
scored tokens, on a log10 axis. Dead features (density 0) have no logarithm: they are counted apart, in the
title, not drawn at some made-up floor. The dense threshold (10 % of tokens) is a dashed line."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

DENSE = 0.1  # the `dense` figure counts features firing on more than this fraction of tokens (saes/metrics.py)
PER_DECADE = 5  # bins per decade of density
BIN_WIDTH = 1 / PER_DECADE  # in log10 units
BAR = (0, 114, 178)  # Okabe–Ito blue, as the sweep plots


def density_histogram(density: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(counts, bin edges in log10 density, dead count) of a (d_sae,) density array; bins are BIN_WIDTH wide,
    from the rarest live feature's decade (or its fifth of one) up to log10(1) = 0."""
    density = np.asarray(density, dtype=np.float64)
    alive = density[density > 0]
    dead = int(density.size - alive.size)
    if not alive.size:
        return np.zeros(0, np.int64), np.zeros(0), dead
    logs = np.log10(alive)
    # Edges at whole fifths of a decade (k / 5, exact for every decade), so 1e-2 sits on an edge, not beside it.
    low = min(int(np.floor(logs.min() * PER_DECADE)), -1)
    edges = np.arange(low, 1) / PER_DECADE
    counts, edges = np.histogram(logs, bins=edges)
    return counts.astype(np.int64), edges, dead


class DensityPlot(pg.PlotWidget):
    """The histogram; `counts`, `edges` and `dead` are what it shows (for tests and the panel's text)."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.setMinimumHeight(200)
        item = self.getPlotItem()
        item.setLabel("bottom", "log10 feature density (fraction of scored tokens a feature fires on)")
        item.setLabel("left", "features")
        item.showGrid(x=True, y=True, alpha=0.15)
        self.counts = np.zeros(0, np.int64)
        self.edges = np.zeros(0)
        self.dead = 0
        self.total = 0

    def show_density(self, density: np.ndarray) -> None:
        self.clear()
        self.counts, self.edges, self.dead = density_histogram(density)
        self.total = int(np.asarray(density).size)
        alive = self.total - self.dead
        share = f"{self.dead / self.total:.1%}" if self.total else "0 %"
        self.setTitle(
            f"<span style='font-size:9pt'>{alive:,} live features · {self.dead:,} dead ({share}), "
            "not drawn: a density of 0 has no logarithm</span>"
        )
        if self.counts.size:
            centres = (self.edges[:-1] + self.edges[1:]) / 2
            bars = pg.BarGraphItem(
                x=centres, height=self.counts, width=BIN_WIDTH * 0.9, brush=pg.mkBrush(*BAR), pen=pg.mkPen(None)
            )
            self.addItem(bars)
            dense = pg.InfiniteLine(
                pos=np.log10(DENSE), angle=90, pen=pg.mkPen((213, 94, 0), width=1.5, style=Qt.PenStyle.DashLine)
            )
            self.addItem(dense)
            label = pg.TextItem("dense (> 10 %)", color=(213, 94, 0), anchor=(1.05, 0))
            label.setPos(np.log10(DENSE), float(self.counts.max()))
            self.addItem(label)
            self.setXRange(float(self.edges[0]) - BIN_WIDTH, 0.1, padding=0)
            self.setYRange(0, float(self.counts.max()) * 1.1, padding=0)
