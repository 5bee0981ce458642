"""One heatmap grid (pyqtgraph): a hint until data arrives, then an image with token ticks and row labels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QLabel, QStackedWidget


def _short(token: str) -> str:
    token = token.replace("\n", "⏎").replace(" ", "·")
    return token if len(token) <= 10 else token[:9] + "…"


class Grid(QStackedWidget):
    """A hint until data arrives, then an image with token ticks below and row labels at the left.

    Reports the hovered and clicked cell; marks where the prompt ends with a dashed line.
    """

    hovered = Signal(int, int)  # row, column (-1, -1 when outside)
    clicked = Signal(int, int)

    def __init__(self, colormap: str, hint: str) -> None:
        super().__init__()
        self.hint = QLabel(hint)
        self.hint.setObjectName("hint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.addWidget(self.hint)
        self.plot = pg.PlotWidget()
        self.addWidget(self.plot)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(colormap))
        self.plot.addItem(self.image)
        self.prompt_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((128, 128, 128), width=1, style=Qt.PenStyle.DashLine))
        self.prompt_line.setToolTip("Left: the prompt; right: the generated tokens")
        self.plot.addItem(self.prompt_line)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.invertY(True)
        self.plot.hideButtons()
        self.shape: tuple[int, int] = (0, 0)
        self.rows: list[str] = []
        self.columns: list[str] = []
        self.plot.scene().sigMouseMoved.connect(self._moved)
        self.image.mouseClickEvent = self._image_clicked

    def show_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.setCurrentWidget(self.hint)

    def show_matrix(
        self,
        matrix: np.ndarray,
        rows: list[str],
        columns: list[str],
        prompt_len: int,
        levels: tuple[float, float] | None = None,
    ) -> None:
        self.shape = (int(matrix.shape[0]), int(matrix.shape[1]))
        self.rows, self.columns = rows, columns
        if levels is None:
            # Colour levels ignore position 0: the first token's residual is an outlier that would wash out the rest.
            body = matrix[:, 1:] if matrix.shape[1] > 1 else matrix
            top = float(body.max()) if body.size and body.max() > 0 else 1.0
            levels = (float(min(0.0, body.min(initial=0.0))), top)
        self.image.setImage(matrix, levels=levels, autoDownsample=False)
        self.image.setRect(0, 0, matrix.shape[1], matrix.shape[0])
        self.prompt_line.setValue(prompt_len)
        self.prompt_line.setVisible(0 < prompt_len < matrix.shape[1])
        self.plot.getAxis("left").setTicks([[(i + 0.5, r) for i, r in enumerate(rows)]])
        self._update_ticks()
        self.plot.setXRange(0, max(matrix.shape[1], 1), padding=0)
        self.plot.setYRange(0, max(matrix.shape[0], 1), padding=0)
        self.setCurrentWidget(self.plot)

    def _update_ticks(self) -> None:
        if not self.columns:
            return
        labels = [_short(t) for t in self.columns]
        # One label per `step` tokens, so that labels never overlap at the current width.
        metrics = QFontMetrics(self.plot.getAxis("bottom").style.get("tickFont") or self.font())
        widest = max(metrics.horizontalAdvance(t) for t in labels) + 8
        axis_width = max(1, self.plot.width() - self.plot.getAxis("left").width() - 10)
        per_label = axis_width / max(1, len(labels))
        step = max(1, int(np.ceil(widest / per_label)))
        self.plot.getAxis("bottom").setTicks([[(i + 0.5, t) for i, t in enumerate(labels) if i % step == 0]])

    def resizeEvent(self, event: QResizeEvent) -> None:  # Qt override
        super().resizeEvent(event)
        self._update_ticks()

    def _cell(self, scene_pos: object) -> tuple[int, int]:
        point = self.plot.plotItem.vb.mapSceneToView(scene_pos)
        row, col = int(np.floor(point.y())), int(np.floor(point.x()))
        if 0 <= row < self.shape[0] and 0 <= col < self.shape[1]:
            return row, col
        return -1, -1

    def _moved(self, pos: object) -> None:
        self.hovered.emit(*self._cell(pos))

    def _image_clicked(self, event: object) -> None:
        row, col = self._cell(event.scenePos())  # type: ignore[attr-defined]
        if row >= 0:
            event.accept()  # type: ignore[attr-defined]
            self.clicked.emit(row, col)
