"""The one object that owns a loaded model and runs all work on ONE worker thread.

torch modules are not thread-safe, so every model call goes through `WorkbenchService.submit`, which runs it
on a single long-lived worker. Each job gets its own CancelToken. Jobs on a named channel ("newest wins") cancel
the previous job of that channel: a heatmap request supersedes the one before it. Callbacks run on the worker
thread; a GUI re-posts them to its own thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from workbench.engine import Engine
from workbench.errors import Cancelled
from workbench.cancel import CancelToken

T = TypeVar("T")


class Job(Generic[T]):
    """A submitted piece of work: its future, and a cancel that works before and while it runs."""

    def __init__(self, future: Future[T], token: CancelToken, label: str) -> None:
        self.future = future
        self.token = token
        self.label = label

    def cancel(self) -> None:
        self.token.cancel()
        self.future.cancel()  # succeeds only if it has not started; a running job sees the token

    @property
    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> T:
        return self.future.result(timeout)


class WorkbenchService:
    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine or Engine()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workbench-model")
        self._lock = threading.Lock()
        self._channels: dict[str, Job[object]] = {}
        self._jobs: set[Job[object]] = set()
        self._closed = False

    def submit(self, work: Callable[[Engine, CancelToken], T], label: str = "", channel: str | None = None) -> Job[T]:
        """Run `work(engine, token)` on the worker thread. With a `channel`, the previous job there is cancelled."""
        token = CancelToken()

        def run() -> T:
            token.raise_if_cancelled()
            return work(self.engine, token)

        with self._lock:
            if self._closed:
                raise RuntimeError("the workbench service is shut down")
            previous = self._channels.get(channel) if channel is not None else None
            job: Job[T] = Job(self._executor.submit(run), token, label)
            self._jobs.add(job)  # type: ignore[arg-type]
            if channel is not None:
                self._channels[channel] = job  # type: ignore[assignment]
        # Outside the lock: cancelling runs the future's done-callbacks, which take the lock.
        if previous is not None:
            previous.cancel()
        job.future.add_done_callback(lambda _f: self._forget(job))  # type: ignore[arg-type]
        return job

    def _forget(self, job: Job[object]) -> None:
        with self._lock:
            self._jobs.discard(job)

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()

    def shutdown(self, wait: bool = True) -> None:
        """Cancel everything and stop the worker; with `wait`, return only once the worker thread has ended."""
        with self._lock:
            self._closed = True
        self.cancel_all()
        self._executor.shutdown(wait=wait, cancel_futures=True)


def is_cancelled(exc: BaseException | None) -> bool:
    """True when a job ended because it was cancelled."""
    return isinstance(exc, Cancelled)
