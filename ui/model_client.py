"""The window's client of the model process: send typed requests, get typed events on the GUI thread.

The model lives in a child process (workbench.host), so loading torch or running a forward pass can never
freeze the window. Events arrive on the host's reader thread; `ModelClient` re-emits each through one queued
Qt signal, so handlers run on the GUI thread, and routes it by its type to the handlers registered with `on`.
Only plain data crosses: frozen dataclasses, numpy arrays, strings.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

from workbench.host import Host, JobHandle, ModelHost
from workbench.jobs import events as ev
from workbench.jobs import requests as rq

E = TypeVar("E", bound=ev.Event)
HostFactory = Callable[[Callable[[ev.Event], None]], Host]


class ModelClient(QObject):
    received = Signal(object)  # every Event, on the GUI thread (after the handlers registered with `on`)
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, host_factory: HostFactory | None = None) -> None:
        super().__init__(parent)
        self._host_factory: HostFactory = host_factory or _process_host
        self.host: Host | None = None
        self._handlers: dict[type[ev.Event], list[Callable[[Any], None]]] = {}
        self._running: dict[type[rq.Request], JobHandle] = {}  # the latest job of each request type
        self.last_load: rq.LoadModel | None = None  # what a restart after a crash loads again
        self._crashed = False  # the model process died; until a load, requests are dropped
        self._busy = 0
        self.closed = False
        # Queued: the host calls `_from_host` on its reader thread; the handlers run on this object's thread.
        self._arrived.connect(self.receive, Qt.ConnectionType.QueuedConnection)

    _arrived = Signal(object)

    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call `handler` (on the GUI thread) for every event of type `kind` (or a subclass)."""
        self._handlers.setdefault(kind, []).append(handler)

    def send(self, request: rq.Request) -> JobHandle | None:
        """Run `request` in the model process (started on first use; after it died, by a load only)."""
        if self.closed:
            return None  # the window is closing: late requests (a heatmap after the last token) are dropped
        dead = self.host is not None and (not self.host.alive or self.host.closed)
        if (dead or self._crashed) and not isinstance(request, rq.LoadModel):
            # The model process died (and may not have said so yet): only a load starts another (Restart model,
            # Load); anything else would start a process without a model, only to fail there.
            return None
        if self.host is None or dead:
            self._reap()
            self.host = self._host_factory(self._arrived.emit)
        self._crashed = False
        self._set_busy(+1)
        job = self.host.submit(request)
        self._running[type(request)] = job
        if isinstance(request, rq.LoadModel):
            self.last_load = request
        return job

    def cancel(self, kind: type[rq.Request]) -> None:
        """Cancel the latest job of this request type, if it is still running."""
        job = self._running.get(kind)
        if job is not None and not job.done:
            job.cancel()

    def running(self, kind: type[rq.Request]) -> bool:
        job = self._running.get(kind)
        return job is not None and not job.done

    def last_end(self, kind: type[rq.Request]) -> ev.Event | None:
        """How the latest job of this request type ended (JobFinished, JobFailed, JobCancelled), None if it runs
        or none was sent."""
        job = self._running.get(kind)
        return job.wait() if job is not None and job.done else None

    def receive(self, event: ev.Event) -> None:
        """Route an event from the host (on the GUI thread) to the handlers of its type."""
        if isinstance(event, ev.JobFinished | ev.JobFailed | ev.JobCancelled):
            self._set_busy(-1)
            if self.closed:
                return
        if isinstance(event, ev.HostCrashed) and self.host is not None and self.host.closed:
            # Its pipe closed: reap it at once (it may still be exiting), so a killed process does not linger as a
            # zombie, and its reader thread ends. (A host started since, by a load, is not closed: it stays.)
            self._crashed = True
            self._reap()
        for kind in type(event).__mro__:
            for handler in self._handlers.get(kind, ()):
                handler(event)
        self.received.emit(event)

    def _set_busy(self, delta: int) -> None:
        before = self._busy > 0
        self._busy = max(0, self._busy + delta)
        if (self._busy > 0) != before:
            self.busyChanged.emit(self._busy > 0)

    def shutdown(self) -> None:
        """Cancel everything and wait for the model process to end (called when the window closes)."""
        self.closed = True
        if self.host is not None:
            self.host.shutdown()

    def _reap(self) -> None:
        """Collect a dead model process and its reader thread (its jobs have all ended)."""
        dead, self.host = self.host, None
        if dead is not None:
            dead.shutdown(timeout=5)


_early: ModelHost | None = None  # started by the app before its window, not yet taken over by a client


def start_model_process() -> ModelHost:
    """Start the model process now, ahead of the first request: the app calls this before it builds its window, so
    Python and the core start in the child while the window is built (and, after `warm_up`, torch and transformers
    import while it paints). The first ModelClient that needs a process takes this one over."""
    global _early
    if _early is None:
        _early = _new_process(_before_taken_over)
    return _early


def _before_taken_over(_event: ev.Event) -> None:
    """No job runs before the first request; a crash meanwhile is seen when the process is taken over (closed)."""


def _process_host(on_event: Callable[[ev.Event], None]) -> Host:
    global _early
    early, _early = _early, None
    if early is not None:
        if early.alive and not early.closed:
            early.deliver_to(on_event)
            return early
        early.shutdown(timeout=5)
    return _new_process(on_event)


def _new_process(on_event: Callable[[ev.Event], None]) -> ModelHost:
    host = ModelHost(on_event)
    _lower_priority(host.pid)
    return host


MODEL_NICENESS = 10


def _lower_priority(pid: int | None) -> None:
    """Run the model process at a lower CPU priority than the window.

    The model saturates every core while it works (torch's thread pool spins between operations). At equal
    priority the GUI thread then waits for a time slice before it can handle an event, which users feel as
    stutter; at a lower priority the model yields the moment the window has work, and loses almost nothing,
    because the window needs little CPU. Set right after the process starts, before it creates its threads,
    which inherit the value (on Linux the priority is per thread).
    """
    if pid is None or not hasattr(os, "setpriority"):
        return  # Windows: no nice values
    with contextlib.suppress(OSError):  # not permitted: the model keeps the window's priority
        os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) + MODEL_NICENESS)
