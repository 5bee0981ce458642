"""Compact data files: numpy arrays plus a JSON header in one npz, written atomically.

An interrupted write leaves a temp file behind, never a half-written file in place of a good one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def write_npz(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    encoded = np.frombuffer(json.dumps(header, ensure_ascii=False).encode(), dtype=np.uint8)
    with open(tmp, "wb") as f:
        np.savez_compressed(f, header=encoded, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


def read_npz(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and every array; raises OSError, ValueError, KeyError or JSONDecodeError on a bad file."""
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data["header"]).decode())
        arrays = {k: data[k] for k in data.files if k != "header"}
    return header, arrays
