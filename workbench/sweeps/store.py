"""rows.jsonl: every finished row (and drift cell) appended as one JSON line the moment it is measured, so a
killed sweep loses at most the rows it was generating; a rerun reads the file and skips rows already there.

Each line is flushed and fsynced. A line cut short by a kill or a full disk is ignored on reading (and the next
append starts on a fresh line), so a crash mid-write never makes the file unreadable; spec.json is written
atomically (workbench/files.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from workbench.errors import InputError
from workbench.files import WriteError, atomic_write_text, make_folder
from workbench.sweeps.records import BASELINE, DRIFT, STEERED, DriftCell, SweepRow

ROWS_FILE = "rows.jsonl"
SPEC_FILE = "spec.json"


class RowStore:
    """The rows of one output folder, by id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / ROWS_FILE
        self.rows: dict[str, SweepRow] = {}
        self.drift: dict[str, DriftCell] = {}
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder} exists and is not a folder")
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {self.path}: {exc}") from exc
        for line in text.splitlines():
            record = _parse(line)
            if record is None:
                continue
            kind = record.get("kind")
            try:
                if kind in (BASELINE, STEERED):
                    row = SweepRow.from_dict(record)
                    self.rows[row.id] = row
                elif kind == DRIFT:
                    cell = DriftCell.from_dict(record)
                    self.drift[cell.id] = cell
            except (KeyError, TypeError, ValueError):
                continue  # a line from an incompatible version: regenerate that row

    def write_spec(self, spec: dict[str, Any]) -> None:
        make_folder(self.folder)
        atomic_write_text(self.folder / SPEC_FILE, json.dumps(spec, ensure_ascii=False, indent=1))

    def add_row(self, row: SweepRow) -> None:
        self.rows[row.id] = row
        self._append(row.to_dict())

    def add_drift(self, cell: DriftCell) -> None:
        self.drift[cell.id] = cell
        self._append({"kind": DRIFT, **cell.to_dict()})

    def _append(self, record: dict[str, Any]) -> None:
        make_folder(self.folder)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with open(self.path, "a+b") as f:
                # A previous run killed mid-line left no newline: start this record on its own line.
                if f.tell() > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            # A full disk may leave part of this line: reading skips it and the next append starts a fresh line,
            # so the rows measured before stay readable and a rerun measures this one again.
            raise WriteError(f"cannot write {self.path}: {exc.strerror or exc}") from exc


def _parse(line: str) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
