"""The document's state: one frozen value holding everything the user edits and what the window shows of a run,
with its conversions to and from a `Session`. Plain Python: the commands, undo, save and autosave go through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from workbench.models.generation import GenerationResult, PaneResult
from workbench.models.sampling import SamplingSettings
from workbench.session import Session
from workbench.session.model import AnalysisValue
from workbench.session.sweeps import SavedSweep, SweepRun
from workbench.steering.compiled import EditFiring
from workbench.steering.plan import SteeringPlan, Variant

DEFAULT_PROMPT = "Tell me about your weekend plans."


def new_plan() -> SteeringPlan:
    """A new session's plan: the baseline and one empty variant to add features to."""
    return SteeringPlan.with_baseline(Variant("variant 1"))


@dataclass(frozen=True)
class Inputs:
    """What a run is generated from, as the user edits it: undo and redo move exactly this."""

    prompt: str = ""  # as typed (generation strips it)
    chat: bool = True
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    plan: SteeringPlan = field(default_factory=new_plan)

    @classmethod
    def of(cls, session: Session) -> Inputs:
        return cls(prompt=session.prompt, chat=session.chat, settings=session.settings, plan=session.plan)


@dataclass(frozen=True)
class ModelChoice:
    """The model the user chose to load (the loaded one is what the model process records)."""

    spec: str = "default"
    device: str = "auto"
    dtype: str = "auto"
    backend: str = "torch"  # the registry name (workbench/models/registry.py)
    max_memory: str = ""  # torch: spread over devices, e.g. "0=20GiB,1=20GiB" (models/device_map.py)


@dataclass(frozen=True)
class ShownRun:
    """The outputs the panes show (a finished run, or an opened session's recording) and what made them."""

    result: GenerationResult
    plan: SteeringPlan
    prompt: str  # as the run used it (stripped)
    chat: bool

    def pane_tokens(self, name: str | None) -> tuple[str, list[int], int]:
        """(pane name, prompt + output token ids, prompt length) of pane `name` (the first pane if unknown)."""
        names = self.plan.names
        index = names.index(name) if name in names else 0
        ids = list(self.result.prompt_ids) + list(self.result.panes[index].token_ids)
        return names[index], ids, len(self.result.prompt_ids)


@dataclass(frozen=True)
class DocumentState:
    """Everything a session holds, as the window edits and shows it.

    `prompt`, `chat`, `settings` and `plan` are the undoable inputs; `model`, `analysis` (heatmap pane and SAE,
    the followed feature: also selections an opened session made whose SAE has not loaded yet) and `run` change
    without undo steps, as views of the work rather than the work.
    """

    prompt: str = ""
    chat: bool = True
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    plan: SteeringPlan = field(default_factory=new_plan)
    model: ModelChoice = field(default_factory=ModelChoice)
    analysis: dict[str, AnalysisValue] = field(default_factory=dict)  # never mutated: replaced
    run: ShownRun | None = None
    # The sweeps, in the order they were started: starting, removing and their thresholds are undoable. What each
    # produced lives beside them by id and is never undone, so undoing a removal (or redoing a start) brings a
    # sweep back with every row it has.
    sweeps: tuple[SavedSweep, ...] = ()
    sweep_runs: dict[str, SweepRun] = field(default_factory=dict)  # never mutated: replaced

    @property
    def inputs(self) -> Inputs:
        return Inputs(self.prompt, self.chat, self.settings, self.plan)

    def with_inputs(self, inputs: Inputs) -> DocumentState:
        return replace(self, prompt=inputs.prompt, chat=inputs.chat, settings=inputs.settings, plan=inputs.plan)

    def with_analysis(self, **values: AnalysisValue) -> DocumentState:
        """These selections set (None removes one)."""
        merged = {**self.analysis, **values}
        return replace(self, analysis={k: v for k, v in merged.items() if v is not None})

    def sweep(self, sweep_id: str) -> SavedSweep | None:
        """The sweep with this id, holding what it has produced so far (None if it is not in the document)."""
        found = next((s for s in self.sweeps if s.id == sweep_id), None)
        return None if found is None else replace(found, run=self.sweep_runs.get(sweep_id, found.run))

    def saved_sweeps(self) -> tuple[SavedSweep, ...]:
        """Every sweep with its results, as a session saves them."""
        return tuple(replace(s, run=self.sweep_runs.get(s.id, s.run)) for s in self.sweeps)

    @classmethod
    def of(cls, session: Session, model: ModelChoice | None = None) -> DocumentState:
        """An opened session: its inputs, its model, its selections and (if generated) its recorded run."""
        choice = replace(model or ModelChoice(), spec=session.model.spec, backend=session.environment.backend)
        return cls(
            prompt=session.prompt,
            chat=session.chat,
            settings=session.settings,
            plan=session.plan,
            model=choice,
            analysis=dict(session.analysis),
            run=run_of(session),
            sweeps=session.sweeps,
            sweep_runs={s.id: s.run for s in session.sweeps},
        )


def changed_fields(before: DocumentState, after: DocumentState) -> frozenset[str]:
    """The names of the fields that differ."""
    return frozenset(f.name for f in fields(DocumentState) if getattr(before, f.name) != getattr(after, f.name))


# -- sessions ---------------------------------------------------------------------------------------------------
def outputs_match(session: Session, inputs: Inputs) -> bool:
    """True when the session's recorded outputs were generated from these inputs (generation strips the prompt)."""
    return (
        session.generated
        and session.prompt == inputs.prompt.strip()
        and (session.chat, session.settings, session.plan) == (inputs.chat, inputs.settings, inputs.plan)
    )


def session_with_state(base: Session, state: DocumentState, created: str) -> Session:
    """`base` (the model, SAEs and environment as recorded) holding this state's inputs and selections.

    The outputs are kept only while they still belong to the plan, prompt and settings: a session's outputs must
    replay from what it says, so after a change it is saved without them (like `Session.without_outputs`).
    """
    if outputs_match(base, state.inputs):
        return replace(base, analysis=dict(state.analysis), created=created, sweeps=state.saved_sweeps())
    return replace(
        base.without_outputs(),
        prompt=state.prompt,
        chat=state.chat,
        settings=state.settings,
        plan=state.plan,
        analysis=dict(state.analysis),
        created=created,
        sweeps=state.saved_sweeps(),
    )


def run_of(session: Session) -> ShownRun | None:
    """The recorded outputs as a shown run, so the panes, heatmaps and a later save treat them as a run."""
    result = result_of(session)
    return None if result is None else ShownRun(result, session.plan, session.prompt, session.chat)


def result_of(session: Session) -> GenerationResult | None:
    """The recorded outputs as a GenerationResult (None when the session was not generated)."""
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
