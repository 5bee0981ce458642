"""The Qt binding we pin: emitting a signal from Python must not leak or drop references.

PySide6 6.12.0's `SignalInstance.emit` gives back one reference to `True` that it never took; on Python 3.11
(where `True` is not immortal) a window that streams a few thousand token events then aborts with
"bool_dealloc". The pin in pyproject.toml avoids that version.
"""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    value = Signal(object)


def test_emitting_signals_keeps_the_reference_count_of_true(qapp):
    emitter = _Emitter()
    received = []
    emitter.value.connect(received.append)
    before = sys.getrefcount(True)
    for n in range(200):  # few enough that a broken binding fails here instead of crashing the run
        emitter.value.emit(n)
    assert received == list(range(200))
    assert sys.getrefcount(True) >= before
