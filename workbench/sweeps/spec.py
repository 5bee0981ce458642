"""What a sweep runs: target features, a strength grid, layers, prompts and seeds, as one frozen value.

Plain data all the way down (to_dict / from_dict), so a session can store a sweep and reopen it with exactly the
prompts it ran: the prompts themselves are in the spec, not only the name of the file they came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from workbench.errors import InputError
from workbench.models.edits import EditMode
from workbench.models.sampling import MAX_SEED, SamplingSettings
from workbench.steering.plan import MAX_STRENGTH, StrengthUnit

SPEC_VERSION = 1
SWEEP_MODES = (EditMode.ADD, EditMode.CLAMP)
LAYER_CHOICES = ("own", "all")  # or an explicit list such as "8,15"


@dataclass(frozen=True)
class SweepTarget:
    """A feature to sweep: its id at the SAE named `sae` (an SAE key such as "L15", or a layer number "15")."""

    sae: str
    feature: int

    def __post_init__(self) -> None:
        if self.feature < 0:
            raise InputError(f"feature id must be ≥ 0, got {self.feature}")
        if not self.sae:
            raise InputError("a sweep target names an SAE")

    @property
    def name(self) -> str:
        return f"{self.sae}:{self.feature}"

    @classmethod
    def parse(cls, text: str) -> SweepTarget:
        """`L:ID` (a layer number or an SAE key, then the feature id): `15:852`, `L15:852`, `L8.2:7`."""
        sae, sep, feature = text.strip().rpartition(":")
        if not sep or not sae.strip():
            raise InputError(f"malformed feature {text!r}: expected LAYER:ID such as 15:3877")
        try:
            number = int(feature)
        except ValueError:
            raise InputError(f"malformed feature {text!r}: id {feature!r} is not an integer") from None
        return cls(sae=sae.strip(), feature=number)


@dataclass(frozen=True)
class SweepPrompt:
    """One prompt of the set: the text, an optional system prompt, chat template or raw text, where it came from."""

    text: str
    system: str | None = None
    chat: bool = True
    source: str = ""

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise InputError("a sweep prompt is empty")
        if self.system is not None and not self.chat:
            raise InputError("a system prompt needs chat mode (the chat template places it)")

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.text, "system": self.system, "chat": self.chat, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepPrompt:
        system = data.get("system")
        return cls(
            text=str(data["prompt"]),
            system=str(system) if system is not None else None,
            chat=bool(data.get("chat", True)),
            source=str(data.get("source", "")),
        )


@dataclass(frozen=True)
class SweepSpec:
    """A grid: every (target, layer, strength, prompt, seed) is one generated row, plus one baseline row per
    (prompt, seed). `layers` is "own" (each target's own SAE), "all" (every loaded SAE, through the feature's
    nearest decoder direction there) or a comma list of layers. `sampling`'s seed and max_new_tokens are unused:
    `seeds` and `max_new_tokens` say them."""

    targets: tuple[SweepTarget, ...]
    strengths: tuple[float, ...]
    prompts: tuple[SweepPrompt, ...]
    mode: EditMode = EditMode.ADD
    unit: StrengthUnit = StrengthUnit.MAXACT
    layers: str = "own"
    seeds: tuple[int, ...] = (0,)
    max_new_tokens: int = 32
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    prompt_set: str = ""  # what the prompts were read from ("builtin:neutral", a file name), for people
    recipe: str | None = None

    def __post_init__(self) -> None:
        if not self.targets:
            raise InputError("a sweep needs at least one --feature")
        if not self.strengths:
            raise InputError("a sweep needs at least one strength")
        if not all(math.isfinite(s) and abs(s) <= MAX_STRENGTH for s in self.strengths):
            raise InputError(f"strengths must be finite numbers within ±{MAX_STRENGTH:g}")
        if len(set(self.strengths)) != len(self.strengths):
            raise InputError("a strength is listed twice")
        if not self.prompts:
            raise InputError("a sweep needs at least one prompt")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise InputError("seeds must be a non-empty list without repeats")
        if not all(0 <= s <= MAX_SEED for s in self.seeds):
            raise InputError(f"seeds must be between 0 and {MAX_SEED}")
        if self.mode not in SWEEP_MODES:
            raise InputError(f"a sweep adds or clamps, not {self.mode.value}")
        if self.max_new_tokens < 1:
            raise InputError("max new tokens must be ≥ 1")
        parse_layers(self.layers)

    def explicit_layers(self) -> tuple[int, ...] | None:
        """The listed layers, or None for "own" / "all"."""
        return parse_layers(self.layers)

    def row_settings(self, seed: int) -> SamplingSettings:
        """The sampling settings one row of this sweep runs with."""
        return replace(self.sampling, seed=seed, max_new_tokens=self.max_new_tokens)

    def to_dict(self) -> dict[str, Any]:
        sampling = self.sampling.to_dict()
        for unused in ("seed", "max_new_tokens"):
            sampling.pop(unused, None)
        return {
            "version": SPEC_VERSION,
            "recipe": self.recipe,
            "features": [t.name for t in self.targets],
            "mode": self.mode.value,
            "strengths": list(self.strengths),
            "unit": self.unit.value,
            "layers": self.layers,
            "prompt_set": self.prompt_set,
            "prompts": [p.to_dict() for p in self.prompts],
            "seeds": list(self.seeds),
            "max_new_tokens": self.max_new_tokens,
            "sampling": sampling,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        try:
            if int(data.get("version", 1)) > SPEC_VERSION:
                raise InputError("this sweep was saved by a newer version of the app")
            sampling = SamplingSettings(**data.get("sampling", {}))
            return cls(
                targets=tuple(SweepTarget.parse(str(t)) for t in data["features"]),
                strengths=tuple(float(s) for s in data["strengths"]),
                prompts=tuple(SweepPrompt.from_dict(p) for p in data["prompts"]),
                mode=EditMode(data.get("mode", "add")),
                unit=StrengthUnit(data.get("unit", "maxact")),
                layers=str(data.get("layers", "own")),
                seeds=tuple(int(s) for s in data.get("seeds", (0,))),
                max_new_tokens=int(data.get("max_new_tokens", 32)),
                sampling=sampling,
                prompt_set=str(data.get("prompt_set", "")),
                recipe=data.get("recipe"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed sweep spec: {exc}") from exc


def parse_layers(text: str) -> tuple[int, ...] | None:
    """ "own" / "all" → None; "8,15" → (8, 15); anything else is one clear error."""
    if text in LAYER_CHOICES:
        return None
    try:
        layers = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"malformed layers {text!r}: expected own, all or a list such as 8,15") from None
    if not layers or any(layer < 0 for layer in layers):
        raise InputError(f"malformed layers {text!r}: expected own, all or a list such as 8,15")
    return layers


def parse_numbers(text: str, what: str) -> tuple[float, ...]:
    """A comma list of numbers (`-8,-4,0,4,8`); one clear line when it does not parse."""
    values = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            value = float(part)
        except ValueError:
            raise InputError(f"malformed {what} {text!r}: {part.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"malformed {what} {text!r}: {part.strip()!r} is not finite")
        values.append(value)
    if not values:
        raise InputError(f"malformed {what} {text!r}: no numbers")
    return tuple(values)


def parse_seeds(text: str) -> tuple[int, ...]:
    numbers = parse_numbers(text, "seed list")
    if not all(n.is_integer() for n in numbers):
        raise InputError(f"malformed seed list {text!r}: seeds are whole numbers")
    return tuple(int(n) for n in numbers)
