"""The loop that owns the model: requests run one at a time on one thread; cancels may come from any thread.

The model process (`workbench.host.ModelHost`) and the in-process host (`workbench.host.InProcessHost`) both
wrap a `JobRunner`; they differ only in how requests reach it and how its events travel back.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

from workbench.cancel import CancelToken
from workbench.engine import Engine
from workbench.errors import Cancelled, WorkbenchError, describe_unexpected
from workbench.jobs import events as ev
from workbench.jobs.dispatch import run
from workbench.jobs.requests import Request

Send = Callable[[ev.Event], None]


class JobRunner:
    def __init__(self, send: Send, engine: Engine | None = None) -> None:
        self.engine = engine or Engine()
        self._send = send
        # (rank, order, job): urgent requests first, then first come first served; a stop ends after the
        # running job (queued jobs end cancelled when the host closes).
        self._todo: queue.PriorityQueue[tuple[int, int, tuple[int, Request] | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        # A token per queued or running job, dropped when it ends; ids only grow, in the order jobs are put.
        self._tokens: dict[int, CancelToken] = {}
        self._last_put = 0
        self._lock = threading.Lock()

    def put(self, job_id: int, request: Request) -> None:
        with self._lock:
            self._tokens.setdefault(job_id, CancelToken())
            self._last_put = max(self._last_put, job_id)
        self._todo.put((1 if request.urgent else 2, next(self._order), (job_id, request)))

    def cancel(self, job_id: int) -> None:
        """Cancel a queued or running job (a job not yet queued is cancelled when it arrives).

        A cancel for a job that has already ended (its end event crossed the cancel on the way) is dropped: a
        token kept for it would never be collected, and a window open for days races like this many times."""
        with self._lock:
            token = self._tokens.get(job_id)
            if token is None:
                if job_id <= self._last_put:
                    return
                token = self._tokens[job_id] = CancelToken()
        token.cancel()

    @property
    def tokens_held(self) -> int:
        """Cancel tokens kept (one per queued or running job, and per cancel of a job not yet put)."""
        with self._lock:
            return len(self._tokens)

    def stop(self) -> None:
        """End `serve` once the running job (if any) has ended."""
        self._todo.put((0, next(self._order), None))

    def _token(self, job_id: int) -> CancelToken:
        with self._lock:
            return self._tokens.setdefault(job_id, CancelToken())

    def serve(self) -> None:
        """Run jobs until `stop`: every job ends with exactly one JobFinished, JobFailed or JobCancelled."""
        while (item := self._todo.get()[2]) is not None:
            job_id, request = item
            self._send(self.execute(job_id, request, self._token(job_id)))
            with self._lock:
                self._tokens.pop(job_id, None)

    def execute(self, job_id: int, request: Request, token: CancelToken) -> ev.Event:
        def emit(kind: type[ev.Event], /, **fields: Any) -> None:
            self._send(kind(job=job_id, **fields))

        try:
            run(self.engine, request, token, emit)
            return ev.JobFinished(job_id, request)
        except Cancelled:
            return ev.JobCancelled(job_id, request)
        except WorkbenchError as exc:
            return ev.JobFailed(job_id, request, str(exc), type(exc).__name__)
        except Exception as exc:  # torch errors, out of memory: report, keep serving
            return ev.JobFailed(job_id, request, describe_unexpected(exc), type(exc).__name__)
