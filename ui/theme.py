"""Light and dark palettes follow the system (Qt 6 reports the colour scheme); plots match the palette."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

STYLE = """
QGroupBox { font-weight: bold; margin-top: 6px; }
QLabel#hint, QLabel#unitsLabel, QLabel#paneEdits, QLabel#readout { color: palette(mid); }
QLabel#warningBadge { color: #b35c00; font-weight: bold; }
QLabel#paneRate { color: palette(mid); }
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    dark = QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    palette = app.palette()
    if dark:
        palette = QPalette()
        palette.setColor(QPalette.ColorRole.Window, Qt.GlobalColor.darkGray)
    app.setStyleSheet(STYLE)
    background = app.palette().color(QPalette.ColorRole.Base)
    foreground = app.palette().color(QPalette.ColorRole.Text)
    pg.setConfigOption("background", background)
    pg.setConfigOption("foreground", foreground)
