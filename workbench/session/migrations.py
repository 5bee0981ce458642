"""Older session files → the current schema: a chain of functions, each taking schema N to N+1.

`MIGRATIONS[n]` turns a schema-n dict into a schema-(n+1) dict. A file is walked up the chain one step at a
time, so each step is written once against the layout of its own time and never changes afterwards. To change
the format: bump `schema.SCHEMA_VERSION`, write the step from the old number, and keep a file of the old schema
in the tests.

Steps work on untrusted data: they move what they find and let the validator (schema.py) reject what is wrong,
so a malformed old file gets the same one-line error as a malformed new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench import __version__
from workbench.session.errors import SessionError
from workbench.session.schema import FORMAT, SCHEMA_VERSION

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 copied the `generate --json` record: a flat `prompt` string beside `chat` and
    `prompt_token_ids`, and per-pane `edits_fired` without unit scales. Schema 2 groups the prompt, and records
    with each edit outcome the unit scales it was converted with, so reports can show every edit in all three
    units without loading the SAEs. Schema 1 files did not record the scales: they become unknown (null)."""
    out = dict(data)
    out["prompt"] = {
        "text": data.get("prompt"),
        "chat": data.get("chat"),
        "token_ids": data.get("prompt_token_ids", []),
    }
    out.pop("chat", None)
    out.pop("prompt_token_ids", None)
    outputs = data.get("outputs")
    if isinstance(outputs, list):
        out["outputs"] = [_pane_v2(p) if isinstance(p, dict) else p for p in outputs]
    out["schema_version"] = 2
    return out


def _pane_v2(pane: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in pane.items() if k != "edits_fired"}
    fired = pane.get("edits_fired", [])
    if isinstance(fired, list):
        fired = [{**f, "units": {"maxact": None, "resid": None}} if isinstance(f, dict) else f for f in fired]
    out["edits"] = fired
    return out


MIGRATIONS: dict[int, Migration] = {1: v1_to_v2}


def migrate(data: Any) -> dict[str, Any]:
    """Check that `data` is a session of a known schema and bring it to the current one."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError("not a Steering Workbench session (a JSON file of another kind)")
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SessionError(f"unknown session schema version {_short(version)}")
    if version > SCHEMA_VERSION:
        made_by = _made_by(data)
        raise SessionError(
            f"this session was made by a newer version of Steering Workbench{made_by} (session schema {version}; "
            f"version {__version__} reads schemas up to {SCHEMA_VERSION}): update Steering Workbench to open it"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:  # a gap in the chain is a bug, but the user still gets one line
            raise SessionError(f"no migration from session schema {version} (please report this)")
        try:
            data = step(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SessionError(f"could not upgrade the session from schema {version}: {exc}") from exc
        version += 1
    return data


def _made_by(data: dict[str, Any]) -> str:
    env = data.get("environment")
    versions = env.get("versions") if isinstance(env, dict) else None
    app = versions.get("steering-workbench") if isinstance(versions, dict) else None
    return f" {app[:40]}" if isinstance(app, str) else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
