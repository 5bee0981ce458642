"""Light and dark follow the system: Qt 6's Fusion style picks the palette from the platform's colour scheme;
the plots take their colours from that palette."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

STYLE = """
QGroupBox { font-weight: bold; margin-top: 6px; }
QLabel#hint, QLabel#unitsLabel, QLabel#paneEdits, QLabel#readout, QLabel#paneRate { color: palette(mid); }
QLabel#warningBadge { color: #d9730d; font-weight: bold; }
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE)
    palette = app.palette()
    pg.setConfigOption("background", palette.color(QPalette.ColorRole.Base))
    pg.setConfigOption("foreground", palette.color(QPalette.ColorRole.Text))
