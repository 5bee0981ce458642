"""Session files on disk: atomic writes, loading with one clear error, and the autosave slot.

Writes go through workbench/files.py (temp file, fsync, rename, folder fsync: a crash leaves the old file or the
new one, never a mix); here its errors become SessionErrors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from workbench import files
from workbench.paths import data_dir
from workbench.session.errors import SessionError
from workbench.session.model import Session
from workbench.session.schema import MAX_FILE_BYTES

SESSION_SUFFIX = ".swsession"
AUTOSAVE_NAME = "autosave" + SESSION_SUFFIX


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """workbench/files.py's `atomic_write`, failing with a SessionError (what the window and the CLI catch for
    session files and exports)."""
    try:
        files.atomic_write(path, write)
    except files.WriteError as exc:
        raise SessionError(str(exc)) from exc


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (see workbench/files.py), failing with a SessionError."""
    try:
        files.atomic_write_bytes(path, data)
    except files.WriteError as exc:
        raise SessionError(str(exc)) from exc


def save_session(path: str | Path, session: Session) -> Path:
    """Save atomically; a session that would not load again raises SessionError and the disk is not touched."""
    data = session.to_json().encode("utf-8")
    atomic_write_bytes(path, data)
    return Path(path)


def load_session(path: str | Path) -> Session:
    """Read, migrate and validate a session file; every problem is one SessionError naming the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SessionError(f"{path}: too large to be a session ({size // (1024 * 1024)} MB)")
        data = path.read_bytes()
    except FileNotFoundError:
        raise SessionError(f"session file not found: {path}") from None
    except IsADirectoryError:
        raise SessionError(f"{path} is a folder, not a session file") from None
    except OSError as exc:
        raise SessionError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not data.strip():
        raise SessionError(f"{path}: the session file is empty")
    try:
        return Session.from_json(data)
    except SessionError as exc:
        raise SessionError(f"{path}: {exc}") from exc


# -- autosave -------------------------------------------------------------------------------------------------
def autosave_path() -> Path:
    """The one autosave slot, in the user data folder (`STEERING_WORKBENCH_DATA` overrides)."""
    return data_dir() / "autosave" / AUTOSAVE_NAME


def autosave(session: Session, path: str | Path | None = None) -> Path:
    """Write the autosave slot (or `path`) atomically; the UI calls this on a timer and after each change."""
    target = Path(path) if path is not None else autosave_path()
    try:
        files.make_folder(target.parent)  # a read-only data folder is one line, like a full disk
    except files.WriteError as exc:
        raise SessionError(str(exc)) from exc
    return save_session(target, session)


def pending_autosave() -> Path | None:
    """The autosave left by a session that did not end cleanly (for crash recovery), or None."""
    path = autosave_path()
    return path if path.is_file() else None


def clear_autosave() -> None:
    """Remove the autosave slot (after a clean exit, or once the user declined to recover it)."""
    with contextlib.suppress(FileNotFoundError):
        autosave_path().unlink()
