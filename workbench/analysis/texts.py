"""The texts statistics and metrics run on: a user's text file (one text per line, or JSONL with a "text" field
or a bare JSON string per line), a corpus file of documents, or the held-out sample shipped with the demo SAEs.

Building that corpus is build-time work (workbench/recipe/); reading it is here, where the app needs it.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import InputError

HELDOUT_FILE = "heldout.jsonl.gz"


@dataclass(frozen=True)
class Document:
    source: str  # "wikipedia", "chitchat", "python", or "user"
    doc_id: str  # stable within its source; the train / held-out split hashes (source, doc_id)
    text: str


def load_documents(path: Path) -> list[Document]:
    """A corpus file: JSONL.gz, one {"source", "id", "text"} per line."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [Document(str(r["source"]), str(r["id"]), str(r["text"])) for r in rows]
    except (OSError, EOFError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable corpus file {path}: {exc}") from exc


def default_heldout_path() -> Path:
    """The held-out sample shipped with the demo SAEs (evaluation and statistics run on it by default)."""
    from workbench.saes.demo import resources_dir

    return resources_dir() / "corpus" / HELDOUT_FILE


def texts_from(path: str | Path | None) -> tuple[list[str], str]:
    """Texts and a short source label: a corpus .jsonl.gz, a user's text / JSONL file, or (None) the held-out set.

    One path for the shipped corpus and a researcher's own data, so statistics and metrics mean the same on both.
    """
    if path is None:
        path = default_heldout_path()
        if not path.is_file():
            raise InputError(f"the shipped held-out corpus is missing ({path}); pass --text-file")
        return [d.text for d in load_documents(path)], "demo held-out corpus"
    path = Path(path).expanduser()
    if path.name.endswith(".jsonl.gz"):
        return [d.text for d in load_documents(path)], path.name
    return read_texts(path), path.name


def read_texts(path: str | Path) -> list[str]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"text file not found: {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        texts.append(_jsonl_text(line, path, number) if jsonl else line.strip())
    if not texts:
        raise InputError(f"{path} holds no text")
    return texts


def _jsonl_text(line: str, path: Path, number: int) -> str:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    if isinstance(value, str):
        return value
    raise InputError(f'{path}:{number}: expected a JSON string or an object with a "text" field')
