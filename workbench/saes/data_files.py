"""Reading the app's npz data files next to an SAE (feature statistics, the feature atlas) with one line for
every way such a file can be bad: missing, not an npz archive, truncated, a damaged header, a missing array,
an array of text where numbers belong."""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError
from workbench.npzfile import read_npz


def read_checked_npz(path: Path, what: str, required: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header (a JSON object) and the arrays of the npz file `path`, a `what` ("feature statistics"),
    holding at least the numeric arrays `required`."""
    try:
        header, arrays = read_npz(path)
    except FileNotFoundError as exc:
        raise WorkbenchError(f"{what} file not found: {path}") from exc
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise WorkbenchError(f"{path} is truncated or not a {what} file (not a complete npz archive)") from exc
    except KeyError as exc:
        raise WorkbenchError(f"{path} is not a {what} file (no header)") from exc
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WorkbenchError(f"{path} is damaged: its header is not JSON") from exc
    except ValueError as exc:  # numpy: a pickle, a bad array header, an array cut short
        raise WorkbenchError(f"{path} is damaged or not a {what} file (not a readable npz archive)") from exc
    except OSError as exc:
        raise WorkbenchError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not isinstance(header, dict):
        raise WorkbenchError(f"{path} is damaged: its header is not a JSON object")
    for name in required:
        if name not in arrays:
            raise WorkbenchError(f"{path} is not a complete {what} file: it has no {name} array")
        if arrays[name].dtype.kind not in "biuf":
            raise WorkbenchError(f"{path}: {name} holds {arrays[name].dtype} values, not numbers")
    return header, arrays
