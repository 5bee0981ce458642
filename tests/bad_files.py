"""Writers of bad files for the bad-input tests: each returns a function that puts its content at a path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Write = Callable[[Path], None]


def write_bytes(data: bytes) -> Write:
    return lambda path: path.write_bytes(data)


def write_text(text: str, encoding: str = "utf-8") -> Write:
    return lambda path: path.write_bytes(text.encode(encoding))


def write_sparse(size: int) -> Write:
    def write(path: Path) -> None:
        with path.open("wb") as f:
            f.truncate(size)  # a hole: the size without the disk space

    return write
