"""Measure how long the GUI thread's event loop is blocked: a fast timer notes every late tick.

A late tick has two kinds of cause: the GUI thread was busy (our code: a slot, a layout, a paint), or it was
ready but did not get a CPU (other processes, or the host of a virtual machine taking the CPU away). On Linux
the meter also notes how much CPU time the machine lost to its host while measuring ("steal"), so a figure
taken on a busy machine can be read for what it is. The stall figures themselves are plain wall-clock delays.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

_STAT = Path("/proc/stat")


def _cpu_jiffies() -> list[int] | None:
    try:
        return [int(x) for x in _STAT.read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None


class StallMeter(QObject):
    INTERVAL_MS = 5

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.max_stall_ms = 0.0
        self.phase = "start"
        self.phase_max: dict[str, float] = {}
        self.steal_fraction: float | None = None  # of the machine's CPU time, taken by the host while measuring
        self._last = 0.0
        self._jiffies: list[int] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._jiffies = _cpu_jiffies()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        end = _cpu_jiffies()
        if self._jiffies is not None and end is not None and len(end) > 7:
            delta = [b - a for a, b in zip(self._jiffies, end, strict=False)]
            self.steal_fraction = delta[7] / sum(delta) if sum(delta) > 0 else 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = (now - self._last) * 1000 - self.INTERVAL_MS
        if stall > self.max_stall_ms:
            self.max_stall_ms = stall
        if stall > self.phase_max.get(self.phase, 0.0):
            self.phase_max[self.phase] = stall
        self._last = now
