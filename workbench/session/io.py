"""Session files on disk: atomic writes, loading with one clear error, and the autosave slot.

A write goes to a temp file in the same folder, is flushed and fsynced, then renamed over the target, and the
folder is fsynced so the rename itself survives a power cut. A crash at any point leaves either the old file or
the new one, never a mix; the temp file is removed on every error we see.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from workbench.paths import data_dir
from workbench.session.errors import SessionError
from workbench.session.model import Session
from workbench.session.schema import MAX_FILE_BYTES

SESSION_SUFFIX = ".swsession"
AUTOSAVE_NAME = "autosave" + SESSION_SUFFIX


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(temp_path)` to fill a temp file beside `path`, then put it in place atomically.

    For writers that need a path (the GGUF writer); `atomic_write_bytes` is the common case.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SessionError(f"cannot write {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise SessionError(f"cannot write {path}: it is a folder")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise SessionError(f"cannot write {path}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        os.close(fd)
        write(tmp)
        with open(tmp, "rb+") as f:  # the writer may have closed its own handle: fsync through a fresh one
            os.fsync(f.fileno())
        if path.exists():
            # Keep the target's permissions (mkstemp creates 0600).
            with contextlib.suppress(OSError):
                os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            with contextlib.suppress(OSError):
                os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise SessionError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    _fsync_folder(folder)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (see the module docstring)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()

    atomic_write(path, write)


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
    target.parent.mkdir(parents=True, exist_ok=True)
    return save_session(target, session)


def pending_autosave() -> Path | None:
    """The autosave left by a session that did not end cleanly (for crash recovery), or None."""
    path = autosave_path()
    return path if path.is_file() else None


def clear_autosave() -> None:
    """Remove the autosave slot (after a clean exit, or once the user declined to recover it)."""
    with contextlib.suppress(FileNotFoundError):
        autosave_path().unlink()


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable. Windows cannot open a folder for fsync; its rename is already journalled."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (network mounts) refuse; the file itself is already synced
    finally:
        os.close(fd)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would race with other threads' file creation.
_UMASK = _read_umask()
