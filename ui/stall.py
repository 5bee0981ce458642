"""Measure how long the GUI thread's event loop is blocked: a fast timer notes every late tick."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer


class StallMeter(QObject):
    INTERVAL_MS = 5

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_stall_ms = 0.0
        self.phase = "start"
        self.phase_max: dict[str, float] = {}
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = (now - self._last) * 1000 - self.INTERVAL_MS
        if stall > self.max_stall_ms:
            self.max_stall_ms = stall
        if stall > self.phase_max.get(self.phase, 0.0):
            self.phase_max[self.phase] = stall
        self._last = now
