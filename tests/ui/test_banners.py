"""The error and recovery banners paint their own background: their white text is unreadable on the window grey."""

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.banner import ErrorBanner, RecoveryBanner


@pytest.mark.parametrize(
    ("make", "show", "colour"),
    [
        (ErrorBanner, lambda b: b.show_message("load SAE: d_in 576 does not match"), "#b3261e"),
        (RecoveryBanner, lambda b: b.offer("Unsaved work from yesterday was found"), "#1d5fa8"),
    ],
)
def test_a_banner_paints_its_colour_behind_its_text(qtbot, make, show, colour):
    window = QWidget()  # inside a window, as in the app (a top-level widget paints its background anyway)
    qtbot.addWidget(window)
    banner = make()
    QVBoxLayout(window).addWidget(banner)
    window.resize(600, 80)
    show(banner)
    window.show()
    qtbot.waitExposed(window)
    corner = banner.mapTo(window, QPoint(2, 2))
    assert window.grab().toImage().pixelColor(corner) == QColor(colour)  # a margin pixel, left of the text
    assert banner.label.palette().color(banner.label.foregroundRole()) != QColor(colour)
