"""Read a user's text file: one text per line, or JSONL with a "text" field (or a bare JSON string) per line."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.errors import InputError


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
