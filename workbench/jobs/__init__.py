"""The one job path: typed requests a front end sends to the model owner, and the typed events it gets back.

A request is a frozen dataclass; `workbench.jobs.handlers` runs it on the thread that owns the model and emits
events (frozen dataclasses, numpy arrays). `workbench.host` carries both across the process boundary. A job's
result arrives exactly once, as its result event; `JobFinished`, `JobFailed` and `JobCancelled` then say how it
ended. Front ends dispatch on event types, never on label strings.
"""
