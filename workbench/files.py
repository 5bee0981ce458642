"""Writing the user's files: atomically, with one readable line when the disk says no.

A write goes to a temp file in the same folder (`.NAME.XXXXXXXX.tmp`), is flushed and fsynced, then renamed over
the target, and the folder is fsynced so the rename itself survives a power cut. A crash at any point leaves
either the old file or the new one, never a mix; the temp file is removed on every error we see. A writer killed
outright (SIGKILL, a power cut) cannot remove its temp file: the next write of the same target removes those
left for more than an hour (a younger one may belong to a writer still running).

The lowest layer: sessions, sweeps and SAE label files all write through it, so nothing here imports the rest
of the core but its error base.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from workbench.errors import WorkbenchError

# A temp file older than this is taken for one whose writer died: no write of ours takes an hour.
STALE_TEMP_SECONDS = 3600.0


class WriteError(WorkbenchError):
    """A file could not be written (full disk, read-only folder, missing folder); the previous file is intact."""


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(temp_path)` to fill a temp file beside `path`, then put it in place atomically.

    For writers that need a path (the GGUF writer); `atomic_write_bytes` is the common case.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WriteError(f"cannot write {path}: the folder {folder} does not exist")
    if path.is_dir():
        raise WriteError(f"cannot write {path}: it is a folder")
    remove_stale_temps(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
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
            raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    _fsync_folder(folder)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (see the module docstring)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()

    atomic_write(path, write)


def atomic_write_text(path: str | Path, text: str) -> None:
    """`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def make_folder(folder: Path) -> None:
    """Create `folder` (and its parents) or say in one line why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc


def temp_name_pattern(path: Path) -> re.Pattern[str]:
    """The names `atomic_write` gives its temp files for `path`: mkstemp's 8 characters between our prefix and
    suffix, so a user's own `.NAME.something.tmp` is never taken for ours."""
    return re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}" + re.escape(".tmp"))


def remove_stale_temps(path: Path, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Remove the temp files of earlier writes of `path` whose writer died; returns what was removed.

    Best effort: a temp file that cannot be listed or removed is left for the next write.
    """
    folder = path.parent if str(path.parent) else Path(".")
    pattern = temp_name_pattern(path)
    cutoff = time.time() - older_than
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_mtime > cutoff:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


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
