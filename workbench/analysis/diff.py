"""Word-level diff of a variant's text against the baseline, as spans the GUI can colour."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_WORDS = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class DiffSpan:
    text: str
    changed: bool  # True where the variant's words differ from the baseline's


def word_diff(baseline: str, variant: str) -> list[DiffSpan]:
    """Spans covering `variant` exactly, marking the words that are not in the baseline at that place."""
    a, b = _WORDS.findall(baseline), _WORDS.findall(variant)
    spans: list[DiffSpan] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if j1 == j2:
            continue
        text = "".join(b[j1:j2])
        changed = tag != "equal" and not text.isspace()
        if spans and spans[-1].changed == changed:
            spans[-1] = DiffSpan(spans[-1].text + text, changed)
        else:
            spans.append(DiffSpan(text, changed))
    return spans


def changed_fraction(baseline: str, variant: str) -> float:
    """Fraction of the variant's characters that sit in changed spans (0 = identical to the baseline)."""
    spans = word_diff(baseline, variant)
    total = sum(len(s.text) for s in spans)
    return sum(len(s.text) for s in spans if s.changed) / total if total else 0.0
