"""Reading untrusted JSON one field at a time: each check fails with the field's path in a one-line SessionError."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from workbench.session.errors import SessionError

MAX_ANALYSIS_TEXT = 4096

T = TypeVar("T")


class Node:
    """A value inside the parsed JSON and its path (`variants[1].edits[0].layer`), for one-line errors."""

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, message: str) -> NoReturn:
        raise SessionError(f"{self.path or 'the session'}: {message}")

    def obj(self) -> None:
        if not isinstance(self.value, dict):
            self.fail(f"expected an object, found {_kind(self.value)}")

    def get(self, key: str) -> Node:
        self.obj()
        path = f"{self.path}.{key}" if self.path else key
        if key not in self.value:
            Node(None, path).fail("missing")
        return Node(self.value[key], path)

    def items(self) -> list[Node]:
        if not isinstance(self.value, list):
            self.fail(f"expected a list, found {_kind(self.value)}")
        return [Node(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def string(self, nonempty: bool = False) -> str:
        if not isinstance(self.value, str):
            self.fail(f"expected text, found {_kind(self.value)}")
        if nonempty and not self.value.strip():
            self.fail("must not be empty")
        try:
            self.value.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("holds an unpaired surrogate, which is not text")
        return self.value

    def choice(self, allowed: tuple[str, ...]) -> str:
        value = self.string()
        if value not in allowed:
            self.fail(f"{value[:40]!r} is not one of {', '.join(allowed)}")
        return value

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, found {_kind(self.value)}")
        return self.value

    def integer(self, lo: int | None = None, hi: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"expected an integer, found {_kind(self.value)}")
        if (lo is not None and self.value < lo) or (hi is not None and self.value > hi):
            self.fail(f"{self.value} is out of range ({_range(lo, hi)})")
        return self.value

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            self.fail(f"expected a number, found {_kind(self.value)}")
        try:
            value = float(self.value)
        except OverflowError:
            self.fail("number too large")
        if not math.isfinite(value):
            self.fail("must be finite")
        return value

    def digest(self) -> str:
        value = self.string()
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            self.fail("expected a sha256 hex digest")
        return value

    def ints(self, lo: int, hi: int) -> list[int]:
        return [n.integer(lo, hi) for n in self.items()]

    def floats(self) -> list[float]:
        return [n.number() for n in self.items()]

    def scalar(self) -> str | int | float | bool | None:
        v = self.value
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            return self.integer()
        if isinstance(v, float):
            return self.number()
        if isinstance(v, str):
            if len(v) > MAX_ANALYSIS_TEXT:
                self.fail(f"text longer than {MAX_ANALYSIS_TEXT} characters")
            return self.string()
        self.fail(f"expected text, a number, true/false or null, found {_kind(v)}")

    def optional(self, read: Callable[[Node], T]) -> T | None:
        return None if self.value is None else read(self)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    for cls, name in names.items():
        if isinstance(value, cls):
            return name
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def _range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"{lo}–{hi}"
    return f"≥ {lo}" if lo is not None else f"≤ {hi}"
