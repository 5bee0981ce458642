"""One heatmap grid (pyqtgraph): a hint until data arrives, then an image with token ticks and row labels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QImage
from PySide6.QtWidgets import QLabel, QStackedWidget


def _short(token: str) -> str:
    token = token.replace("\n", "⏎").replace(" ", "·")
    return token if len(token) <= 10 else token[:9] + "…"


# Token label widths by (font, label): a long text repeats its tokens, and the next text mostly reuses them, so
# measuring each label once keeps a 2,000-token grid's draw and every resize from measuring 2,000 strings.
_WIDTHS: dict[tuple[str, str], int] = {}


def _widest(font: QFont, labels: list[str]) -> int:
    font_key, metrics = font.key(), QFontMetrics(font)
    widest = 0
    for label in set(labels):
        width = _WIDTHS.get((font_key, label))
        if width is None:
            width = _WIDTHS[(font_key, label)] = metrics.horizontalAdvance(label)
        widest = max(widest, width)
    return widest


class _Image(pg.ImageItem):
    """pyqtgraph's image, drawn from a 32-bit copy of its colour-indexed rendering: Qt scales an 8-bit indexed
    image to the screen through a slow path (a 2,000 × 16 heatmap: ~2–9 ms a paint against ~0.3 ms), and it
    paints on every resize, pan and zoom. The pixels are the same."""

    def render(self) -> None:
        super().render()
        rendered: QImage | None = getattr(self, "qimage", None)
        if rendered is not None and rendered.format() == QImage.Format.Format_Indexed8:
            self.qimage = rendered.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)


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
        self.image = _Image(axisOrder="row-major")
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
        self._labels: list[str] = []  # the columns as tick labels
        self._widest = 0  # the widest tick label's width in pixels, with a margin
        self.plot.scene().sigMouseMoved.connect(self._moved)
        # The plot area's width, not the window's: it also changes when the row labels' axis takes its width.
        self.plot.plotItem.vb.sigResized.connect(self._update_ticks)
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
        self._labels = [_short(t) for t in columns]
        font = self.plot.getAxis("bottom").style.get("tickFont") or self.font()
        self._widest = _widest(font, self._labels) + 8
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
        labels = self._labels
        # One label per `step` tokens, so that labels never overlap at the current width.
        axis_width = max(1.0, self.plot.plotItem.vb.width())
        per_label = axis_width / max(1, len(labels))
        step = max(1, int(np.ceil(self._widest / per_label)))
        self.plot.getAxis("bottom").setTicks([[(i + 0.5, t) for i, t in enumerate(labels) if i % step == 0]])

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
