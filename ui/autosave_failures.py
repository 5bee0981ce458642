"""Autosave that cannot write (a full disk, a folder that became read-only): one banner, retried on a timer, and
cleared when a write works again.

Autosave runs after every change; a disk that stays full would otherwise put the same message up again at each
one, bringing back a banner the user dismissed. So the first failure is said once, later ones only keep the
retry going, and the banner goes when the slot is written again (by a retry or by the next change's autosave).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QStatusBar

from ui.autosave import Autosaver
from ui.banner import ErrorBanner

RETRY_MS = 30_000
AUTOSAVE_FAILED = "autosave failed"


class AutosaveFailures(QObject):
    def __init__(self, autosaver: Autosaver, banner: ErrorBanner, status: QStatusBar) -> None:
        super().__init__(autosaver)
        self.autosaver, self.banner, self.status = autosaver, banner, status
        self.failing: str | None = None  # the banner's text while autosave fails
        self._failed_now = False  # the attempt that just ran failed
        self.retry = QTimer(self)
        self.retry.setSingleShot(True)
        self.retry.setInterval(RETRY_MS)
        self.retry.timeout.connect(self._retry)
        autosaver.failed.connect(self._failed)
        # After each autosave the change timer runs (connected after Autosaver's own save): did it work?
        autosaver.timer.timeout.connect(self._attempted)

    def _failed(self, message: str) -> None:
        if not message.startswith(AUTOSAVE_FAILED):
            self.banner.show_message(message)  # not a write (a slot that cannot be recovered): say it as it is
            return
        self._failed_now = True
        if self.failing is None:
            self.failing = f"{message} (unsaved work is not being kept; retrying every {RETRY_MS // 1000} s)"
            self.banner.show_message(self.failing)
        self.retry.start()

    def _retry(self) -> None:
        self.autosaver.save_now()
        self._attempted()

    def _attempted(self) -> None:
        failed, self._failed_now = self._failed_now, False
        if failed or self.failing is None:
            return
        # It wrote (or there was nothing left to write): the problem is gone, and so is its banner.
        if not self.banner.isHidden() and self.banner.label.text() == self.failing:
            self.banner.hide()
        self.failing = None
        self.retry.stop()
        self.status.showMessage("autosave works again")
