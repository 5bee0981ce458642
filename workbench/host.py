"""Where the model lives: a separate process for front ends that must never freeze, or a thread for tests.

Loading torch and transformers runs compiled code that holds Python's GIL for hundreds of milliseconds at a
time (`import torch` alone: ~0.4 s), which would freeze a GUI sharing the interpreter. In a child process the
model cannot stall the window, and an out-of-memory kill ends the child, not the app.

Both hosts take typed requests (`workbench.jobs.requests`) and report typed events (`workbench.jobs.events`)
through `on_event`, called on a host thread (a GUI re-posts them to its own thread). Over the process boundary
(two one-way pipes, plain picklable data):
  parent → child: ("run", job_id, request) | ("cancel", job_id) | ("stop",) | ("warm", backend)
  child → parent: an Event
The child runs jobs one at a time on one thread (`JobRunner`); a listener thread applies cancels meanwhile.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any, Protocol

from workbench.jobs import events as ev
from workbench.jobs.requests import Request

EventCallback = Callable[[ev.Event], None]
CRASH_MESSAGE = "the model process ended unexpectedly (out of memory or killed); restart the model"


class JobHandle:
    """A submitted request: cancel it, or wait for the event that ended it."""

    def __init__(self, host: _JobTable, job_id: int, request: Request) -> None:
        self._host, self.id, self.request = host, job_id, request
        self.ended: Future[ev.Event] = Future()  # JobFinished, JobFailed or JobCancelled

    def cancel(self) -> None:
        self._host._cancel(self.id)

    def wait(self, timeout: float | None = None) -> ev.Event:
        return self.ended.result(timeout)

    @property
    def done(self) -> bool:
        return self.ended.done()


class Host(Protocol):
    """What a front end needs of a model owner."""

    closed: bool

    def submit(self, request: Request) -> JobHandle: ...

    @property
    def alive(self) -> bool: ...

    def shutdown(self, timeout: float = 10.0) -> None: ...


class _JobTable:
    """Job ids, newest-wins channels, and routing of events to handles: the part both hosts share."""

    def __init__(self, on_event: EventCallback) -> None:
        self._on_event = on_event
        self._lock = threading.Lock()
        self._jobs: dict[int, JobHandle] = {}
        self._channels: dict[str, JobHandle] = {}
        self._next = 0
        self.closed = False

    def submit(self, request: Request) -> JobHandle:
        with self._lock:
            if self.closed:
                raise RuntimeError("the model host is shut down")
            self._next += 1
            job = JobHandle(self, self._next, request)
            self._jobs[job.id] = job
            channel = request.channel
            previous = self._channels.get(channel) if channel is not None else None
            if channel is not None:
                self._channels[channel] = job
        if previous is not None and not previous.done:
            previous.cancel()  # the newest request on a channel wins
        self._start(job.id, request)
        return job

    def _start(self, job_id: int, request: Request) -> None:
        raise NotImplementedError

    def _cancel(self, job_id: int) -> None:
        raise NotImplementedError

    def _deliver(self, event: ev.Event) -> None:
        """Hand an event on; an end event names its request and completes its handle."""
        if not isinstance(event, ev.JobFinished | ev.JobFailed | ev.JobCancelled):
            self._on_event(event)
            return
        with self._lock:
            job = self._jobs.pop(event.job, None)
        if job is None:
            return  # already failed (the host closed or crashed)
        event = replace(event, request=job.request)  # the child sends it back without its payload
        self._on_event(event)
        job.ended.set_result(event)

    def _fail_all(self, message: str) -> None:
        """The owner of the model is gone: every job in flight fails, then the front end hears of the crash."""
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            was_closed, self.closed = self.closed, True
        for job in jobs:
            end: ev.Event = (
                ev.JobCancelled(job.id, job.request) if was_closed else ev.JobFailed(job.id, job.request, message)
            )
            self._on_event(end)
            job.ended.set_result(end)
        if not was_closed:
            self._on_event(ev.HostCrashed(0, message))


class ModelHost(_JobTable):
    """The model in a child process."""

    def __init__(self, on_event: EventCallback) -> None:
        super().__init__(on_event)
        ctx = mp.get_context("spawn")
        commands_read, self._commands = ctx.Pipe(duplex=False)
        self._events, events_write = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_child_main, args=(commands_read, events_write), daemon=True, name="workbench-model-host"
        )
        self._process.start()
        commands_read.close()
        events_write.close()
        self._reader = threading.Thread(target=self._read, name="workbench-host-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def warm_up(self, backend: str) -> None:
        """Have the process import what loading a model on `backend` needs now, before the first request (the
        window sends this before it paints; the load follows after). Only a first message has this effect."""
        self._send(("warm", backend))

    def deliver_to(self, on_event: EventCallback) -> None:
        """Report events to `on_event` from now on (a process started early, taken over by its client)."""
        self._on_event = on_event

    def _start(self, job_id: int, request: Request) -> None:
        self._send(("run", job_id, request))

    def _cancel(self, job_id: int) -> None:
        self._send(("cancel", job_id))

    def _send(self, message: tuple[Any, ...]) -> None:
        # If the child is gone, the reader thread reports it; a send has nothing to add.
        with contextlib.suppress(OSError, ValueError):
            self._commands.send(message)

    def _read(self) -> None:
        while True:
            try:
                event = self._events.recv()
            except (EOFError, OSError):
                break
            self._deliver(event)
        self._fail_all(CRASH_MESSAGE)

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    @property
    def reader_alive(self) -> bool:
        return self._reader.is_alive()

    def kill(self) -> None:
        """End the model process at once (as an out-of-memory kill would)."""
        self._process.kill()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel running work, stop the child, and wait for it and the reader thread to end."""
        with self._lock:
            self.closed = True
            running = list(self._jobs)
        for job_id in running:
            self._send(("cancel", job_id))
        self._send(("stop",))
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._commands.close()
        self._reader.join(5)


class InProcessHost(_JobTable):
    """The model on a thread of this process: the same interface, for tests and scripts without a GUI."""

    def __init__(self, on_event: EventCallback, engine: Any = None) -> None:
        super().__init__(on_event)
        from workbench.jobs.runner import JobRunner

        self._runner = JobRunner(self._deliver, engine)
        self._thread = threading.Thread(target=self._runner.serve, name="workbench-model", daemon=True)
        self._thread.start()

    @property
    def engine(self) -> Any:
        return self._runner.engine

    def _start(self, job_id: int, request: Request) -> None:
        self._runner.put(job_id, request)

    def _cancel(self, job_id: int) -> None:
        self._runner.cancel(job_id)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            self.closed = True
            running = list(self._jobs)
        for job_id in running:
            self._runner.cancel(job_id)
        self._runner.stop()
        self._thread.join(timeout)
        self._fail_all("shut down")  # jobs still queued end as cancelled (the host is closed)


def _child_main(commands: Connection, events: Connection) -> None:
    """The model process: a listener thread for commands, and this thread running one job at a time."""
    from workbench import startup_gc

    startup_gc.pause()  # until the first job (the model load) ends: workbench/startup_gc.py
    from workbench.quiet import quiet_libraries

    quiet_libraries()  # before the engine imports transformers
    from workbench.jobs.runner import JobRunner

    lock = threading.Lock()

    def send(event: ev.Event) -> None:
        if isinstance(event, ev.JobFinished | ev.JobFailed | ev.JobCancelled):
            startup_gc.resume()  # (a no-op after the first job)
            event = replace(event, request=Request())  # the parent knows the request: don't send it back
        with lock:
            events.send(event)

    runner = JobRunner(send)
    # The first message decides: ("warm", backend) → import for it before serving; anything else → serve at once.
    warm_for: list[str] = []
    first_message = threading.Event()

    def listen() -> None:
        while True:
            try:
                message = commands.recv()
            except (EOFError, OSError):
                message = ("stop",)
            if message[0] == "warm":
                if not first_message.is_set():
                    warm_for.append(message[1])
                first_message.set()
                continue
            first_message.set()
            if message[0] == "cancel":
                runner.cancel(message[1])
            elif message[0] == "run":
                runner.put(message[1], message[2])
            else:
                runner.stop()
                return

    threading.Thread(target=listen, daemon=True).start()
    first_message.wait()
    if warm_for:
        _warm_up(warm_for[0])  # jobs that arrive meanwhile wait in the runner's queue; cancels still apply to them
    runner.serve()
    events.close()


# What loading on a backend imports (for torch: torch and transformers' model and tokenizer code, about 3.4 s of
# CPU on a 2-core EPYC). Imported on this process's main thread, before any job: two threads importing torch at
# once can deadlock on its circular imports.
WARM_UP: dict[str, tuple[str, ...]] = {
    "torch": (
        "torch",
        "transformers.modeling_utils",
        "transformers.models.auto.modeling_auto",
        "transformers.models.auto.tokenization_auto",
    ),
}


def _warm_up(backend: str) -> None:
    """Import ahead what a load on `backend` will import; what fails here fails again in the load, which says so."""
    import importlib

    for name in WARM_UP.get(backend, ()):
        try:
            importlib.import_module(name)
        except Exception:
            return
