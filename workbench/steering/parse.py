"""Parse the CLI's EDITS syntax: a comma-separated list of `LAYER:FEATURE:STRENGTH[:MODE][:UNIT][:POSITIONS]`."""

from __future__ import annotations

import math

from workbench.errors import InputError
from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, StrengthUnit

_WORDS: dict[str, EditMode | StrengthUnit | PositionScope] = {
    **{m.value: m for m in EditMode},
    **{u.value: u for u in StrengthUnit},
    **{p.value: p for p in PositionScope},
}
SYNTAX = "LAYER:FEATURE:STRENGTH[:MODE][:UNIT][:POSITIONS]"


def parse_edit(text: str) -> FeatureEdit:
    """Parse one edit such as `8:123:4` or `15:42:6:clamp:maxact:generated`."""
    parts = [p.strip() for p in text.strip().split(":")]
    if len(parts) < 3 or len(parts) > 6:
        raise InputError(f"malformed edit {text!r}: expected {SYNTAX}")
    layer = _int(parts[0], "layer", text)
    feature = _int(parts[1], "feature", text)
    try:
        strength = float(parts[2])
    except ValueError:
        raise InputError(f"malformed edit {text!r}: strength {parts[2]!r} is not a number") from None
    if not math.isfinite(strength):
        raise InputError(f"malformed edit {text!r}: strength must be finite")
    chosen: dict[type, EditMode | StrengthUnit | PositionScope] = {}
    for word in parts[3:]:
        value = _WORDS.get(word.lower())
        if value is None:
            choices = ", ".join(sorted(_WORDS))
            raise InputError(f"malformed edit {text!r}: unknown word {word!r} (one of: {choices})")
        if type(value) in chosen:
            raise InputError(f"malformed edit {text!r}: {word!r} repeats a {type(value).__name__}")
        chosen[type(value)] = value
    mode = chosen.get(EditMode, EditMode.ADD)
    unit = chosen.get(StrengthUnit, StrengthUnit.RAW)
    positions = chosen.get(PositionScope, PositionScope.ALL)
    assert isinstance(mode, EditMode) and isinstance(unit, StrengthUnit) and isinstance(positions, PositionScope)
    return FeatureEdit(layer=layer, feature=feature, strength=strength, mode=mode, unit=unit, positions=positions)


def parse_edits(text: str) -> tuple[FeatureEdit, ...]:
    """Parse a comma-separated list of edits; an empty string is an empty variant."""
    items = [t for t in text.split(",") if t.strip()]
    return tuple(parse_edit(t) for t in items)


def _int(value: str, what: str, text: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"malformed edit {text!r}: {what} {value!r} is not an integer") from None
    if number < 0:
        raise InputError(f"malformed edit {text!r}: {what} must be ≥ 0")
    return number
