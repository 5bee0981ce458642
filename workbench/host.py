"""A separate process that owns the model, for front ends that must never freeze.

Loading torch and transformers runs compiled code that holds Python's GIL for hundreds of milliseconds at a
time (`import torch` alone: ~0.4 s), which would freeze a GUI sharing the interpreter. In a child process the
model cannot stall the window, and an out-of-memory kill ends the child, not the app.

Protocol (plain picklable data over two one-way pipes):
  parent → child: ("run", job_id, operation, kwargs) | ("cancel", job_id) | ("stop",)
  child → parent: ("event", job_id, name, payload) | ("done", job_id, result) | ("error", job_id, kind, message)
The child runs jobs one at a time (one thread owns the model); a listener thread in the child applies cancels
while a job runs. Events reach the parent on a reader thread, which calls `on_event`.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from workbench.errors import Cancelled, WorkbenchError

EventCallback = Callable[[int, str, Any], None]


class HostJob:
    def __init__(self, host: ModelHost, job_id: int, label: str) -> None:
        self.host, self.id, self.label = host, job_id, label
        self.future: Future[Any] = Future()

    def cancel(self) -> None:
        self.host._send(("cancel", self.id))

    def result(self, timeout: float | None = None) -> Any:
        return self.future.result(timeout)

    @property
    def done(self) -> bool:
        return self.future.done()


class ModelHost:
    def __init__(self, on_event: EventCallback) -> None:
        self._on_event = on_event
        ctx = mp.get_context("spawn")
        commands_read, self._commands = ctx.Pipe(duplex=False)
        self._events, events_write = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_child_main, args=(commands_read, events_write), daemon=True, name="workbench-model-host"
        )
        self._process.start()
        commands_read.close()
        events_write.close()
        self._lock = threading.Lock()
        self._jobs: dict[int, HostJob] = {}
        self._channels: dict[str, HostJob] = {}
        self._next = 0
        self.closed = False
        self._reader = threading.Thread(target=self._read, name="workbench-host-reader", daemon=True)
        self._reader.start()

    def submit(self, operation: str, label: str = "", channel: str | None = None, **kwargs: Any) -> HostJob:
        """Run `operation` (a name in workbench.operations) in the model process."""
        with self._lock:
            if self.closed:
                raise RuntimeError("the model process is shut down")
            self._next += 1
            job = HostJob(self, self._next, label or operation)
            self._jobs[job.id] = job
            previous = self._channels.get(channel) if channel is not None else None
            if channel is not None:
                self._channels[channel] = job
        if previous is not None and not previous.done:
            previous.cancel()  # newest request on a channel wins
        self._send(("run", job.id, operation, kwargs))
        return job

    def _send(self, message: tuple[Any, ...]) -> None:
        # If the child is gone, the reader thread reports it; a send has nothing to add.
        with contextlib.suppress(OSError, ValueError):
            self._commands.send(message)

    def _read(self) -> None:
        while True:
            try:
                message = self._events.recv()
            except (EOFError, OSError):
                break
            kind, job_id = message[0], message[1]
            if kind == "event":
                self._on_event(job_id, message[2], message[3])
                continue
            with self._lock:
                job = self._jobs.pop(job_id, None)
            if job is None:
                continue
            if kind == "done":
                job.future.set_result(message[2])
            else:
                exc: Exception = Cancelled() if message[2] == "Cancelled" else WorkbenchError(message[3])
                job.future.set_exception(exc)
        self._fail_all("the model process ended unexpectedly (out of memory?); load the model again")

    def _fail_all(self, message: str) -> None:
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
            was_closed = self.closed
            self.closed = True
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(Cancelled() if was_closed else WorkbenchError(message))
        if not was_closed:
            self._on_event(0, "crashed", message)

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    @property
    def reader_alive(self) -> bool:
        return self._reader.is_alive()

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


def _child_main(commands: Connection, events: Connection) -> None:
    """The model process: a listener thread for commands, and this thread running one job at a time."""
    from workbench.quiet import quiet_libraries

    quiet_libraries()  # before the engine imports transformers
    from workbench.engine import Engine
    from workbench.cancel import CancelToken
    from workbench.operations import OPERATIONS

    engine = Engine()
    todo: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
    tokens: dict[int, CancelToken] = {}
    lock = threading.Lock()

    def token_for(job_id: int) -> CancelToken:
        with lock:
            return tokens.setdefault(job_id, CancelToken())

    def listen() -> None:
        while True:
            try:
                message = commands.recv()
            except (EOFError, OSError):
                message = ("stop",)
            if message[0] == "cancel":
                token_for(message[1]).cancel()
            elif message[0] == "run":
                todo.put(message)
            else:
                todo.put(None)
                return

    threading.Thread(target=listen, daemon=True).start()
    while (message := todo.get()) is not None:
        _, job_id, operation, kwargs = message
        token = token_for(job_id)

        def emit(name: str, payload: Any, job_id: int = job_id) -> None:
            events.send(("event", job_id, name, payload))

        try:
            token.raise_if_cancelled()
            result = OPERATIONS[operation](engine, token, emit, **kwargs)
            events.send(("done", job_id, result))
        except Cancelled:
            events.send(("error", job_id, "Cancelled", "cancelled"))
        except WorkbenchError as exc:
            events.send(("error", job_id, "WorkbenchError", str(exc)))
        except Exception as exc:  # torch errors, out of memory: report, keep serving
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            events.send(("error", job_id, type(exc).__name__, f"{type(exc).__name__}: {first}"))
        finally:
            with lock:
                tokens.pop(job_id, None)
    events.close()
