"""Regenerate a saved session's panes and compare them token by token with the recording.

`open_engine` loads what the session names (model, then its SAEs in the recorded order); `replay_session` runs
the recorded prompt, plan and sampling on any engine holding that model and those SAEs, and says, per pane,
whether the tokens are identical and where they first differ, with notes on everything that could explain a
difference (device, dtype, library versions, changed weights, re-computed statistics, a changed tokenizer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from workbench.cancel import CancelToken
from workbench.errors import WorkbenchError
from workbench.progress import ProgressCallback, ignore_progress
from workbench.session.errors import SessionError
from workbench.session.model import PaneOutput, Session
from workbench.session.record import hash_differences, library_versions, missing_files
from workbench.steering.plan import SteeringPlan

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.models.generation import GenerationResult, PaneResult, TokenEvent
    from workbench.saes.loader import LoadedSae


@dataclass(frozen=True)
class PaneReplay:
    name: str
    identical: bool
    recorded_ids: tuple[int, ...]
    replayed_ids: tuple[int, ...]
    recorded_text: str
    replayed_text: str

    @property
    def first_difference(self) -> int | None:
        """Index (in generated tokens) of the first token that differs; None when identical."""
        if self.identical:
            return None
        for i, (a, b) in enumerate(zip(self.recorded_ids, self.replayed_ids, strict=False)):
            if a != b:
                return i
        return min(len(self.recorded_ids), len(self.replayed_ids))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "identical": self.identical,
            "first_difference": self.first_difference,
            "recorded_tokens": len(self.recorded_ids),
            "replayed_tokens": len(self.replayed_ids),
        }
        if not self.identical:
            out["recorded_text"] = self.recorded_text
            out["replayed_text"] = self.replayed_text
        return out


@dataclass(frozen=True)
class ReplayReport:
    panes: tuple[PaneReplay, ...]
    prompt_identical: bool
    notes: tuple[str, ...]  # differences from the recording that can change tokens

    @property
    def all_identical(self) -> bool:
        return self.prompt_identical and all(p.identical for p in self.panes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "panes": [p.to_dict() for p in self.panes],
            "all_identical": self.all_identical,
            "prompt_identical": self.prompt_identical,
            "notes": list(self.notes),
        }


def open_engine(
    session: Session,
    device: str | None = None,
    dtype: str | None = None,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    backend: str | None = None,
    max_memory: str = "",
    ignore_memory_check: bool = False,
) -> tuple[Engine, list[str]]:
    """Load the session's model and SAEs (on the recorded backend, device and dtype unless given; spread over
    devices with `max_memory`; `ignore_memory_check` skips models/memory_guard.py's refusal); notes on fallbacks."""
    from workbench.devices import resolve_device
    from workbench.engine import Engine

    missing = missing_files(session)
    if missing:
        raise SessionError("; ".join(m.message for m in missing) + " (locate them, then open the session again)")
    notes: list[str] = []
    env = session.environment
    if device is None and max_memory.strip():
        device = "auto"  # a spread model has no one device: the max-memory setting names them
    if device is None:
        device = env.device
        try:
            resolve_device(device)
        except WorkbenchError:
            notes.append(f"recorded on {env.device}, which this machine does not have: replaying on the default")
            device = "auto"
    engine = Engine()
    if backend is not None and backend != env.backend:
        notes.append(f"recorded on the {env.backend} backend, replaying on {backend}: tokens may differ")
    engine.load_model(
        session.model.spec,
        device,
        dtype or env.dtype,
        progress=progress,
        cancel=cancel,
        backend=backend or env.backend,
        max_memory=max_memory,
        ignore_memory_check=ignore_memory_check,
    )
    for record in session.saes:
        if cancel is not None:
            cancel.raise_if_cancelled()
        engine.add_sae(record.spec, record.key)
    return engine, notes


def replay_session(
    engine: Engine,
    session: Session,
    cancel: CancelToken | None = None,
    on_token: Callable[[TokenEvent], None] | None = None,
) -> ReplayReport:
    """Generate every pane again with the recorded prompt, plan, sampling and seed, and compare."""
    from workbench.errors import Cancelled

    if not session.outputs:
        raise SessionError("nothing to replay: the session has no recorded outputs (generate, then save)")
    check_model_fits(session, engine)
    plan = plan_for_saes(session, engine.saes)
    notes = environment_notes(session, engine) + hash_differences(session)
    prompt_identical = tuple(engine.backend.encode_prompt(session.prompt, session.chat)) == session.prompt_ids
    if not prompt_identical:
        notes.append(
            "the prompt's token ids differ from the recording (a changed tokenizer or chat template); "
            "the panes were replayed from the recorded ids"
        )
    run = engine.backend.generate(session.prompt_ids, engine.compile(plan), session.settings, cancel)
    result = run.run(on_token)
    if result.cancelled:
        raise Cancelled()
    notes += strength_notes(session, result)
    panes = compare_panes(session.outputs, result.panes)
    return ReplayReport(panes=panes, prompt_identical=prompt_identical, notes=tuple(notes))


def compare_panes(recorded: Sequence[PaneOutput], replayed: Sequence[PaneResult]) -> tuple[PaneReplay, ...]:
    """Each recorded pane against the same pane of a new run of the same plan (panes in plan order)."""
    return tuple(
        PaneReplay(
            name=rec.name,
            identical=tuple(new.token_ids) == rec.token_ids,
            recorded_ids=rec.token_ids,
            replayed_ids=tuple(new.token_ids),
            recorded_text=rec.text,
            replayed_text=new.text,
        )
        for rec, new in zip(recorded, replayed, strict=True)
    )


def summarise_panes(panes: Sequence[PaneReplay]) -> str:
    """One line for people: all identical, or which panes differ and from which generated token."""
    different = [p for p in panes if not p.identical]
    if not different:
        return f"same tokens as the recording in all {len(panes)} panes"
    where = ", ".join(f"'{p.name}' from token {p.first_difference}" for p in different)
    return f"{len(different)} of {len(panes)} panes differ from the recording: {where}"


def check_model_fits(session: Session, engine: Engine) -> None:
    """The engine's model has the recorded shape (a relocated file could be another model)."""
    info, m = engine.backend.info, session.model
    got, want = (info.n_layers, info.d_model, info.vocab_size), (m.n_layers, m.d_model, m.vocab_size)
    if got != want:
        raise SessionError(
            f"the loaded model ({info.name}: {got[0]} layers, hidden size {got[1]}, vocabulary {got[2]}) is not "
            f"the session's ({m.name}: {want[0]} layers, hidden size {want[1]}, vocabulary {want[2]})"
        )


def plan_for_saes(session: Session, saes: Sequence[LoadedSae]) -> SteeringPlan:
    """The session's plan with SAE keys mapped to the loaded SAEs' (keys are given out in load order)."""
    keys = sae_key_map(session, saes)
    variants = tuple(
        v.with_edits([replace(e, sae=keys[e.sae]) if e.sae is not None else e for e in v.edits])
        for v in session.plan.variants
    )
    return SteeringPlan(variants)


def sae_key_map(session: Session, saes: Sequence[LoadedSae]) -> dict[str, str]:
    """Recorded SAE key → the key of the same loaded SAE (matched by spec, else by layer and size)."""
    mapping: dict[str, str] = {}
    free = list(saes)
    for record in session.saes:
        match = next((s for s in free if s.spec.describe() == record.spec), None)
        if match is None:
            match = next((s for s in free if s.layer == record.layer and s.d_sae == record.d_sae), None)
        if match is None:
            raise SessionError(f"SAE {record.key} ({record.spec}) is not loaded")
        free.remove(match)
        mapping[record.key] = match.key
    return mapping


def environment_notes(session: Session, engine: Engine) -> list[str]:
    """Where this replay runs differently from the recording: device, dtype, library versions."""
    env, info = session.environment, engine.backend.info
    notes: list[str] = []
    if info.device != env.device:
        notes.append(f"device differs: recorded on {env.device}, replayed on {info.device}")
    if info.dtype != env.dtype:
        notes.append(f"dtype differs: recorded in {env.dtype}, replayed in {info.dtype}")
    now = library_versions()
    for name, recorded in env.versions.items():
        current = now.get(name)
        if current != recorded:
            notes.append(f"{name} differs: recorded with {recorded}, replayed with {current or 'none'}")
    return notes


def strength_notes(session: Session, result: GenerationResult) -> list[str]:
    """Edits whose raw coefficient changed: their unit's statistics were recomputed since the recording."""
    notes: list[str] = []
    for rec, new in zip(session.outputs, result.panes, strict=True):
        for old, fired in zip(rec.edits, new.edits_fired, strict=False):
            if abs(old.raw_strength - fired.raw_strength) > 1e-6 * max(1.0, abs(old.raw_strength)):
                notes.append(
                    f"{rec.name}: edit {old.edit} now has raw strength {fired.raw_strength:.4g} "
                    f"(recorded {old.raw_strength:.4g}): the SAE's statistics changed"
                )
    return notes
