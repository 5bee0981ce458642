"""How each request runs on the thread that owns the model: one handler per request type.

A handler takes the engine, the request, the job's cancel token and an `emit(EventClass, **fields)` callback,
and sends its result as one event; it returns nothing, so a result crosses the process boundary once. The
runner fills in the job id, so handlers name only what they report. Handlers live in the modules listed in
`HANDLER_MODULES` and register themselves with `@handles(RequestType)`; a new kind of job is a request, its
events, and a handler in one of those modules (or a new module added to the list).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from workbench.cancel import CancelToken
from workbench.engine import Engine
from workbench.errors import WorkbenchError
from workbench.jobs import events as ev
from workbench.jobs import requests as rq

HANDLER_MODULES = (
    "workbench.jobs.handlers",
    "workbench.jobs.feature_handlers",
    "workbench.jobs.sweep_handlers",
    "workbench.jobs.quality_handlers",
)
R = TypeVar("R", bound=rq.Request)


class Emit(Protocol):
    """`emit(EventClass, **fields)`: the runner fills in the job id and sends the event."""

    def __call__(self, kind: type[ev.Event], /, **fields: Any) -> None: ...


Handler = Callable[[Engine, Any, CancelToken, Emit], None]
HANDLERS: dict[type[rq.Request], Handler] = {}


def handles(request_type: type[R]) -> Callable[[Callable[[Engine, R, CancelToken, Emit], None]], Handler]:
    def register(fn: Callable[[Engine, R, CancelToken, Emit], None]) -> Handler:
        HANDLERS[request_type] = fn
        return fn

    return register


def run(engine: Engine, request: rq.Request, token: CancelToken, emit: Emit) -> None:
    """Run `request` to its end; raises Cancelled, WorkbenchError or whatever the model raised."""
    for module in HANDLER_MODULES:
        importlib.import_module(module)  # registers its handlers (cached after the first job)
    token.raise_if_cancelled()  # a job stopped while queued ends cancelled, whatever it was
    handler = HANDLERS.get(type(request))
    if handler is None:
        raise WorkbenchError(f"the model process does not know the request {type(request).__name__}")
    handler(engine, request, token, emit)
