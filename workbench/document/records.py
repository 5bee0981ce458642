"""What the model process recorded for the document: the Session a save starts from.

Saving needs the model's side (weight hashes, the device, each edit's unit scales), so the model process records
a Session whenever the model, the SAEs or the outputs change (`base`). Save and autosave put the document's
current state into that record: instant, and possible while the model is busy.
"""

from __future__ import annotations

from workbench.document.state import Inputs, ShownRun
from workbench.session import Session


class SessionRecords:
    def __init__(self) -> None:
        self.base: Session | None = None  # model, SAEs and environment to save with (and outputs, if any)
        self.loaded: Session | None = None  # the model process's last record: what is loaded now
        # The opened session, if it has outputs: a run of exactly its inputs is a replay. While its outputs are
        # the ones shown (`showing_recording`), a fresh record keeps their provenance.
        self.recording: Session | None = None
        self.showing_recording = False
        self.in_flight = 0  # records asked for and not arrived (or failed) yet
        self._stale = 0  # records in flight that were asked for before the shown session changed

    def asked(self) -> None:
        """A record was asked of the model process."""
        self.in_flight += 1

    def arrived(self, session: Session) -> bool:
        """A record arrived: it tells what is loaded, and becomes the base unless it is stale. True if it did."""
        self.loaded = session
        if not self._take():
            return False
        if self.showing_recording and self.recording is not None:
            session = session.with_provenance_of(self.recording)
        self.base = session
        return True

    def failed(self) -> None:
        """A record failed (or was cancelled): it is no longer on its way."""
        self._take()

    def _take(self) -> bool:
        """False when the record was asked for before another session was shown: its prompt, plan and outputs
        are not this session's."""
        self.in_flight = max(0, self.in_flight - 1)
        fresh = self._stale == 0
        self._stale = max(0, self._stale - 1)
        return fresh

    def replacing(self) -> None:
        """Another session is about to be shown: records on their way belong to the old one."""
        self._stale = self.in_flight

    def opened(self, session: Session) -> None:
        """An opened (or recovered) session is the base; its outputs, if any, are the recording shown."""
        self.base = session
        self.recording = session if session.outputs else None
        self.showing_recording = self.recording is not None

    def emptied(self) -> None:
        """A new session: the loaded model stays, the outputs go."""
        self.base = self.base.without_outputs() if self.base is not None else None
        self.recording, self.showing_recording = None, False

    def ran(self) -> None:
        """A run finished: the panes hold its outputs now, not the recording's."""
        self.showing_recording = False

    def unloaded(self) -> None:
        """A model load started or failed: what was recorded as loaded no longer is."""
        self.loaded = None

    def replayed(self, run: ShownRun) -> Session | None:
        """The recording `run` replays (a finished run of exactly its inputs), or None."""
        if self.recording is None or run.result.cancelled:
            return None
        recorded = Inputs.of(self.recording)
        ran = (run.prompt, run.chat, run.result.settings, run.plan)
        if ran != (recorded.prompt.strip(), recorded.chat, recorded.settings, recorded.plan):
            return None
        return self.recording
