"""Sessions: save the work (model, SAEs, prompt, variants, sampling, outputs, analysis), reopen it, replay it,
and export it. Importing this package is cheap; replay and the exports load what they need when called.

The UI's entry points:
- `Session` (frozen; `to_json()` / `Session.from_json()`, `with_*` helpers),
- `save_session(path, session)` / `load_session(path)` — atomic write; one `SessionError` for any bad file,
- `autosave(session)`, `pending_autosave()`, `clear_autosave()` — the crash-recovery slot,
- `record_session(engine, prompt, plan, settings, chat, result)` — on the model's side,
- `missing_files(session)` — what to offer to locate before reopening.
Replay: `workbench.session.replay`; exports: `workbench.session.export_*`.
"""

from workbench.session.errors import SessionError
from workbench.session.io import (
    atomic_write,
    atomic_write_bytes,
    autosave,
    autosave_path,
    clear_autosave,
    load_session,
    pending_autosave,
    save_session,
)
from workbench.session.model import EditOutcome, Environment, ModelRecord, PaneOutput, SaeRecord, Session
from workbench.session.record import MissingFile, missing_files, record_session
from workbench.session.schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "EditOutcome",
    "Environment",
    "MissingFile",
    "ModelRecord",
    "PaneOutput",
    "SaeRecord",
    "Session",
    "SessionError",
    "atomic_write",
    "atomic_write_bytes",
    "autosave",
    "autosave_path",
    "clear_autosave",
    "load_session",
    "missing_files",
    "pending_autosave",
    "record_session",
    "save_session",
]
