"""The texts statistics and metrics run on: a user's text file (one text per line, or JSONL with a "text" field
or a bare JSON string per line), a corpus file of documents, or the held-out sample shipped with the demo SAEs.

Building that corpus is build-time work (workbench/recipe/); reading it is here, where the app needs it.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import InputError
from workbench.textfile import json_line, read_user_text

HELDOUT_FILE = "heldout.jsonl.gz"
MAX_FILE_BYTES = 2_000_000_000  # read whole into memory; a bigger corpus belongs in a .jsonl.gz of documents
MAX_TEXT_CHARS = 1_000_000  # statistics and metrics read a text's first few hundred tokens; more only stalls


@dataclass(frozen=True)
class Document:
    source: str  # "wikipedia", "chitchat", "python", or "user"
    doc_id: str  # stable within its source; the train / held-out split hashes (source, doc_id)
    text: str


def load_documents(path: Path) -> list[Document]:
    """A corpus file: JSONL.gz, one {"source", "id", "text"} per line; one line for a missing, truncated or
    garbled file, naming the line at fault."""
    documents = []
    number = 0
    try:
        with gzip.open(path, "rb") as f:  # lines decoded one by one, so an encoding fault names its line
            for number, raw in enumerate(f, start=1):
                line = raw.decode("utf-8")
                if line.strip():
                    documents.append(_document(json.loads(line), path, number))
    except FileNotFoundError as exc:
        raise InputError(f"corpus file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"unreadable corpus file {path}:{number}: not valid JSON ({exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"unreadable corpus file {path}:{number}: not UTF-8 text ({exc.reason})") from exc
    except (EOFError, zlib.error) as exc:
        where = f" after line {number}" if number else ""
        raise InputError(f"unreadable corpus file {path}: truncated or damaged{where} ({exc}); copy it again") from exc
    except (OSError, RecursionError) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError(f"unreadable corpus file {path}: {exc}") from exc
    if not documents:
        raise InputError(f"the corpus file {path} holds no documents")
    return documents


def _document(row: Any, path: Path, number: int) -> Document:
    if not isinstance(row, dict) or not all(isinstance(row.get(k), str | int) for k in ("source", "id")):
        raise InputError(f'unreadable corpus file {path}:{number}: expected an object with "source", "id" and "text"')
    if not isinstance(row.get("text"), str):
        raise InputError(f'unreadable corpus file {path}:{number}: "text" must be a string')
    return Document(str(row["source"]), str(row["id"]), row["text"])


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
    lines = read_user_text(path, "text file", MAX_FILE_BYTES).splitlines()
    jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_TEXT_CHARS:
            raise InputError(
                f"{path}:{number}: a line of {len(line)} characters; a text may have at most {MAX_TEXT_CHARS} "
                "(split it into lines)"
            )
        texts.append(_jsonl_text(line, path, number) if jsonl else line.strip())
    if not texts:
        raise InputError(f"{path} holds no text")
    return texts


def _jsonl_text(line: str, path: Path, number: int) -> str:
    value = json_line(line, path, number)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    if isinstance(value, str):
        return value
    raise InputError(f'{path}:{number}: expected a JSON string or an object with a "text" field')
