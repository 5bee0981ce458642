"""The session: everything needed to reopen a piece of work and get the same tokens again.

Frozen dataclasses of plain data (the steering plan and sampling settings are the core's own frozen types), so
a session can cross threads and processes, be compared, and be changed only through `dataclasses.replace` or the
`with_*` helpers. Conversion to and from JSON lives in `schema.py`; `to_json` / `from_json` delegate there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeAlias

from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import SteeringPlan

if TYPE_CHECKING:
    from workbench.session.sweeps import SavedSweep
    from workbench.steering.units import UnitScales

# The analysis selections (heatmap layer / pane / selected feature, ...): a small free-form dict whose values
# are JSON scalars or short lists of them. `schema.py` checks the limits.
AnalysisScalar: TypeAlias = str | int | float | bool | None
AnalysisValue: TypeAlias = AnalysisScalar | list[AnalysisScalar]


@dataclass(frozen=True)
class ModelRecord:
    """The model a session was made with, and how to load it again."""

    spec: str  # what loads it again: "default", a .gguf file, a model folder, or a hub id (`org/name[@rev]`)
    source: str  # "embedded", "gguf", "folder" or "hub" (workbench.models.spec.ModelSource)
    name: str
    architecture: str  # the config's model_type ("llama"): the control-vector export's model hint
    n_layers: int
    d_model: int
    vocab_size: int
    sha256: str | None = None  # of the weights file (GGUF) or the folder's weight files; None = not hashed
    revision: str | None = None  # hub models: the revision (the commit, when it could be resolved)


@dataclass(frozen=True)
class SaeRecord:
    """One SAE the session had loaded; `key` is what edits name in `FeatureEdit.sae`."""

    key: str
    spec: str  # a sae-lens folder, or RELEASE:SAE_ID
    source: str  # "folder" or "registry" (workbench.saes.spec.SaeSource)
    layer: int
    d_sae: int
    hook_name: str
    sha256: str | None = None  # of the weights and cfg.json; None for registry SAEs


@dataclass(frozen=True)
class EditOutcome:
    """How one enabled edit of one pane acted in the recorded run, with the unit scales it was converted with."""

    edit: str  # FeatureEdit.describe(), for reading the file
    raw_strength: float  # the coefficient used (add: s; clamp: target activation c)
    positions: int  # positions whose residual it changed
    maxact_scale: float | None = None  # one ×maxact unit as a raw coefficient; None = no statistics
    resid_scale: float | None = None  # one ×resid unit as a raw coefficient

    @property
    def scales(self) -> UnitScales:
        from workbench.steering.units import UnitScales

        return UnitScales(maxact=self.maxact_scale, resid=self.resid_scale)


@dataclass(frozen=True)
class PaneOutput:
    """One pane's recorded output: the generated token ids (the prompt excluded) and their text."""

    name: str
    token_ids: tuple[int, ...]
    text: str
    finish_reason: str  # "eos", "length" or "cancelled"
    edits: tuple[EditOutcome, ...] = ()  # one per enabled edit of the pane's variant, in order


@dataclass(frozen=True)
class Environment:
    """Where the recording ran: replay notes any difference, because it can change the tokens."""

    device: str
    dtype: str
    versions: dict[str, str] = field(default_factory=dict)  # app, python, torch, transformers, sae-lens
    backend: str = "torch"  # the model backend it ran on ("torch", "llama.cpp"); files before it: torch


@dataclass(frozen=True)
class Session:
    """Model, SAEs, prompt, plan, sampling and (once generated) the outputs, with the analysis selections."""

    model: ModelRecord
    saes: tuple[SaeRecord, ...]
    prompt: str
    chat: bool
    settings: SamplingSettings
    plan: SteeringPlan
    environment: Environment
    prompt_ids: tuple[int, ...] = ()  # the prompt's token ids as recorded (chat template applied)
    outputs: tuple[PaneOutput, ...] = ()  # empty until generated; else one per variant, in plan order
    analysis: dict[str, AnalysisValue] = field(default_factory=dict)
    created: str = ""  # ISO 8601 UTC time of the recording
    sweeps: tuple[SavedSweep, ...] = ()  # with their rows (workbench/session/sweeps.py); older files hold none

    # -- JSON ---------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The session file's text (current schema); raises SessionError if the session breaks the schema."""
        from workbench.session.schema import session_to_json

        return session_to_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> Session:
        """Parse, migrate and validate a session file's text; every problem is one SessionError."""
        from workbench.session.schema import session_from_json

        return session_from_json(text)

    # -- lookups and edits (new values; the session itself never changes) --------------------------------------
    @property
    def generated(self) -> bool:
        return bool(self.outputs)

    def output(self, name: str) -> PaneOutput:
        from workbench.session.errors import SessionError

        for pane in self.outputs:
            if pane.name == name:
                return pane
        names = ", ".join(p.name for p in self.outputs) or "none (not generated yet)"
        raise SessionError(f"no pane named {name!r} in the session (panes: {names})")

    def sae(self, key: str) -> SaeRecord:
        from workbench.session.errors import SessionError

        for record in self.saes:
            if record.key == key:
                return record
        raise SessionError(f"no SAE with key {key!r} in the session")

    def with_analysis(self, **values: AnalysisValue) -> Session:
        """A copy with these analysis selections set (None removes a key)."""
        merged = {**self.analysis, **values}
        return replace(self, analysis={k: v for k, v in merged.items() if v is not None})

    def with_model_spec(self, spec: str) -> Session:
        """A copy that loads the model from `spec` (after the user located a moved file or folder)."""
        return replace(self, model=replace(self.model, spec=spec))

    def with_sae_spec(self, key: str, spec: str) -> Session:
        """A copy that loads SAE `key` from `spec` (after the user located a moved folder)."""
        self.sae(key)  # a clear error for an unknown key
        return replace(self, saes=tuple(replace(s, spec=spec) if s.key == key else s for s in self.saes))

    def with_provenance_of(self, recording: Session) -> Session:
        """This fresh record of what is loaded, holding `recording`'s outputs as `recording` made them.

        Reopening a session records the loaded model again (on this machine, with these files); saving it then
        must not claim its outputs came from here. So the outputs, prompt ids and environment (device, dtype,
        versions) are the recording's, and the model and each SAE still named by the same spec keep their
        recorded entries (the hashes of the files the outputs came from; a replay compares those with today's).
        SAEs added since come from this record.
        """
        recorded_saes = {(s.key, s.spec): s for s in recording.saes}
        model = recording.model if recording.model.spec == self.model.spec else self.model
        return replace(
            self,
            model=model,
            saes=tuple(recorded_saes.get((s.key, s.spec), s) for s in self.saes),
            environment=recording.environment,
            prompt_ids=recording.prompt_ids,
            outputs=recording.outputs,
        )

    def without_outputs(self) -> Session:
        """A copy with the plan and prompt but no outputs (they no longer match once either changes)."""
        return replace(self, outputs=(), prompt_ids=())
