"""Reading a user's text file (prompts, texts, labels) the same way everywhere: one line for a file that is
missing, a folder, too big, binary, or in an encoding we would have to guess.

UTF-8 is read with or without a byte-order mark; UTF-16 only with one (Windows editors and Excel's "Unicode
text" write it so). Any other encoding (latin-1, cp1252) is refused rather than guessed: a wrong guess would
silently change the user's text.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from workbench.errors import InputError

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_user_text(path: Path, what: str, max_bytes: int) -> str:
    """The text of `path`, a `what` ("prompt file", "labels file", ...), of at most `max_bytes` bytes."""
    if not path.exists():
        raise InputError(f"{what} not found: {path}")
    if not path.is_file():
        raise InputError(f"{path} is a folder, not a {what}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(
                f"{path} is {_mb(size)}: larger than the {_mb(max_bytes)} a {what} may be (is it the right file?)"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not {encoding.upper().removesuffix('-SIG')} text (byte {exc.start}: {exc.reason}); "
            "save it as UTF-8"
        ) from exc
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InputError(f"{path} looks binary (a NUL character on line {line}), not a {what}")
    return text.removeprefix("\ufeff")


def json_line(line: str, path: Path, number: int) -> Any:
    """One line of a user's JSONL file, parsed; a line that is not JSON is one InputError naming `path:number`."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    except RecursionError as exc:
        raise InputError(f"{path}:{number}: JSON nested too deep to read") from exc


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 10**6 else f"{size} bytes"
