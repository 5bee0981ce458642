"""The seed paper's stress tests as named presets that fill a sweep spec (anything given explicitly wins).

- magnitude: one feature at its own layer, −10…+10 × its max activation (9 values, denser near 0): where does it
  start to steer, where does the text break.
- layer: the feature and its nearest-decoder counterparts at every loaded SAE, at a few strengths in the resid
  unit (a multiple of each layer's own residual norm, so strengths mean the same push at every layer; maxact
  would not, since each counterpart has its own max activation).
- context: one setting across every built-in prompt set — chat questions, neutral prompts, raw text openings
  and the same questions under several system prompts.
- seeds: one setting over 8 seeds: how much of the effect is sampling noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import InputError
from workbench.models.edits import EditMode
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import StrengthUnit
from workbench.sweeps.prompts import BUILTIN_PREFIX, BUILTIN_SETS, load_prompt_set
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget

DEFAULT_PROMPTS = "builtin:neutral"
# 0.25 × the layer's residual norm: the setting the README's demo steers with.
ONE_SETTING = ((0.25,), StrengthUnit.RESID)


@dataclass(frozen=True)
class Recipe:
    strengths: tuple[float, ...]
    unit: StrengthUnit
    layers: str = "own"
    prompts: str = DEFAULT_PROMPTS  # "builtin:*" = every built-in set
    seeds: tuple[int, ...] = (0,)


RECIPES: dict[str, Recipe] = {
    "magnitude": Recipe((-10.0, -5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0), StrengthUnit.MAXACT),
    "layer": Recipe((0.1, 0.25, 0.5), StrengthUnit.RESID, layers="all"),
    "context": Recipe(*ONE_SETTING, prompts="builtin:*"),
    "seeds": Recipe(*ONE_SETTING, seeds=tuple(range(8))),
}
# Without a recipe: the magnitude grid's unit, a short symmetric strength list, the neutral prompts.
CUSTOM = Recipe((-8.0, -4.0, 0.0, 4.0, 8.0), StrengthUnit.MAXACT)


def build_spec(
    targets: tuple[SweepTarget, ...],
    recipe: str | None = None,
    *,
    strengths: tuple[float, ...] | None = None,
    unit: StrengthUnit | None = None,
    layers: str | None = None,
    prompts: str | None = None,
    seeds: tuple[int, ...] | None = None,
    mode: EditMode = EditMode.ADD,
    chat: bool = True,
    max_new_tokens: int = 32,
    sampling: SamplingSettings | None = None,
) -> SweepSpec:
    """A spec from a recipe's defaults, with every argument that is not None taking precedence."""
    if recipe is not None and recipe not in RECIPES:
        raise InputError(f"unknown recipe {recipe!r} (one of: {', '.join(RECIPES)})")
    base = RECIPES[recipe] if recipe else CUSTOM
    source = prompts or base.prompts
    extra: dict[str, Any] = {}
    if sampling is not None:
        extra["sampling"] = sampling
    return SweepSpec(
        targets=targets,
        strengths=strengths or base.strengths,
        prompts=_prompts(source, chat),
        mode=mode,
        unit=unit or base.unit,
        layers=layers or base.layers,
        seeds=seeds or base.seeds,
        max_new_tokens=max_new_tokens,
        prompt_set=source,
        recipe=recipe,
        **extra,
    )


def _prompts(source: str, chat: bool) -> tuple[SweepPrompt, ...]:
    """`builtin:*` is every built-in set, each with its own chat / raw choice (the context stress test)."""
    if source == f"{BUILTIN_PREFIX}*":
        return tuple(p for name in BUILTIN_SETS for p in load_prompt_set(f"{BUILTIN_PREFIX}{name}", chat))
    return load_prompt_set(source, chat)
