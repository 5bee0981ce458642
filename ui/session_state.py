"""The window's editable state as one comparable value, what changed between two of them, and its conversions
to and from a Session. Plain Python (no Qt): the undo stack, autosave and save all go through these.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, fields, replace

from workbench.models.generation import GenerationResult, PaneResult
from workbench.models.sampling import SamplingSettings
from workbench.session import Session
from workbench.session.model import AnalysisValue
from workbench.steering.compiled import EditFiring
from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant

# Settings as the window names them (the undo menu reads "Undo Change temperature").
SETTING_NAMES = {
    "seed": "seed",
    "temperature": "temperature",
    "top_p": "top-p",
    "top_k": "top-k",
    "repetition_penalty": "repetition penalty",
    "max_new_tokens": "max tokens",
    "stop_at_eos": "stop at end of text",
}


@dataclass(frozen=True)
class EditorState:
    """Everything the user edits that a session saves: undo restores exactly this, autosave writes it."""

    prompt: str  # as typed (generation strips it)
    chat: bool
    settings: SamplingSettings
    plan: SteeringPlan

    @classmethod
    def of(cls, session: Session) -> EditorState:
        return cls(prompt=session.prompt, chat=session.chat, settings=session.settings, plan=session.plan)


@dataclass(frozen=True)
class Change:
    """What one step changed, for the Edit menu, and which later steps may fold into it (None: none)."""

    label: str
    merge_key: Hashable | None = None


def describe_change(before: EditorState, after: EditorState) -> Change:
    """Name the difference between two states (the first difference found; several at once read 'Change …')."""
    if before.prompt != after.prompt:
        return Change("Edit prompt", "prompt")
    if before.chat != after.chat:
        return Change("Use chat template" if after.chat else "Use raw text")
    if before.settings != after.settings:
        changed = [
            f.name
            for f in fields(SamplingSettings)
            if getattr(before.settings, f.name) != getattr(after.settings, f.name)
        ]
        if len(changed) == 1:
            return Change(f"Change {SETTING_NAMES.get(changed[0], changed[0])}", ("setting", changed[0]))
        return Change("Change sampling settings")
    return _describe_plan_change(before.plan, after.plan)


def _describe_plan_change(before: SteeringPlan, after: SteeringPlan) -> Change:
    b, a = before.variants, after.variants
    if len(a) == len(b) + 1:
        i = next(i for i in range(len(a)) if i >= len(b) or a[i] != b[i])
        if i > 0 and a[i].edits and a[i].edits == a[i - 1].edits and a[i].name == f"{a[i - 1].name} copy":
            return Change(f"Duplicate variant “{a[i - 1].name}”")
        return Change(f"Add variant “{a[i].name}”")
    if len(a) == len(b) - 1:
        i = next(i for i in range(len(b)) if i >= len(a) or a[i] != b[i])
        return Change(f"Remove variant “{b[i].name}”")
    changed = [i for i in range(min(len(a), len(b))) if a[i] != b[i]]
    if len(a) != len(b) or len(changed) != 1:
        return Change("Change variants")
    i = changed[0]
    old, new = b[i], a[i]
    if old.name != new.name:
        return Change(f"Rename variant “{old.name}” to “{new.name}”" if old.edits == new.edits else "Change variant")
    return _describe_edits_change(i, old, new)


def _describe_edits_change(i: int, old: Variant, new: Variant) -> Change:
    be, ae = old.edits, new.edits
    if len(ae) == len(be) + 1:
        added = next(e for e in ae if e not in be)
        return Change(f"Add {_short(added)} to “{new.name}”")
    if len(ae) == len(be) - 1:
        removed = next(e for e in be if e not in ae)
        return Change(f"Remove {_short(removed)} from “{new.name}”")
    diffs = [j for j in range(len(ae)) if ae[j] != be[j]] if len(ae) == len(be) else []
    if len(diffs) != 1:
        return Change(f"Change the edits of “{new.name}”")
    j = diffs[0]
    e0, e1 = be[j], ae[j]
    what = _short(e1)
    if e0.enabled != e1.enabled:
        return Change(f"{'Enable' if e1.enabled else 'Disable'} {what}")
    if e0.strength != e1.strength:
        # Steps of one slider drag carry the same key: the stack folds them into one while the drag lasts.
        return Change(f"Set {what} strength to {e1.strength:g}", ("strength", i, j))
    for name in ("mode", "unit", "positions"):
        if getattr(e0, name) != getattr(e1, name):
            return Change(f"Set {what} {name} to {getattr(e1, name).value}")
    return Change(f"Change {what}")


def _short(edit: FeatureEdit) -> str:
    target = f"f{edit.feature}" if edit.feature is not None else "vector"
    return f"L{edit.layer}:{target}"


# -- sessions ---------------------------------------------------------------------------------------------------
def outputs_match(session: Session, state: EditorState) -> bool:
    """True when the session's recorded outputs were generated from this state (generation strips the prompt)."""
    return (
        session.generated
        and session.prompt == state.prompt.strip()
        and (session.chat, session.settings, session.plan) == (state.chat, state.settings, state.plan)
    )


def session_with_state(base: Session, state: EditorState, analysis: dict[str, AnalysisValue], created: str) -> Session:
    """`base` (the model, SAEs and environment as recorded) holding this editor state.

    The outputs are kept only while they still belong to the plan, prompt and settings: a session's outputs must
    replay from what it says, so after a change it is saved without them (like `Session.without_outputs`).
    """
    if outputs_match(base, state):
        return replace(base, analysis=dict(analysis), created=created)
    return replace(
        base.without_outputs(),
        prompt=state.prompt,
        chat=state.chat,
        settings=state.settings,
        plan=state.plan,
        analysis=dict(analysis),
        created=created,
    )


def result_of(session: Session) -> GenerationResult | None:
    """The recorded outputs as a GenerationResult, so the panes, heatmaps and a later save treat them as a run."""
    if not session.generated:
        return None
    panes = []
    for variant, out in zip(session.plan.variants, session.outputs, strict=True):
        fired = tuple(
            EditFiring(edit, o.raw_strength, o.positions)
            for edit, o in zip(variant.active_edits, out.edits, strict=True)
        )
        panes.append(PaneResult(out.name, out.token_ids, out.text, out.finish_reason, fired, tokens_per_s=0.0))
    return GenerationResult(
        prompt_ids=session.prompt_ids,
        panes=tuple(panes),
        settings=session.settings,
        wall_s=0.0,
        steps=max((len(p.token_ids) for p in panes), default=0),
        cancelled=any(p.finish_reason == "cancelled" for p in panes),
    )
