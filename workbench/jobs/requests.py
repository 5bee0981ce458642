"""What a front end can ask of the model owner: one frozen dataclass per operation.

`channel` names requests where the newest wins: sending one cancels the previous request on that channel
(a heatmap for the old text is not wanted once the user asks for another). `urgent` requests go ahead of queued
ones: they are quick, and someone waits for them (a save waits for its session record, a slider for its units).
`label` is for people (status bar, error banner), never for deciding what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from workbench.models.generation import GenerationResult
from workbench.models.sampling import SamplingSettings
from workbench.session.model import AnalysisValue
from workbench.steering.plan import SteeringPlan
from workbench.sweeps.spec import SweepSpec


@dataclass(frozen=True)
class Request:
    """Base of every request."""

    label: ClassVar[str] = "job"
    channel: ClassVar[str | None] = None
    urgent: ClassVar[bool] = False


@dataclass(frozen=True)
class LoadModel(Request):
    """Load a model, then `saes` (keyed by `keys` where given: a reopened session's keys)."""

    spec: str
    device: str = "auto"
    dtype: str = "auto"
    saes: tuple[str, ...] = ()
    keys: tuple[str, ...] | None = None
    backend: str = "torch"
    max_memory: str = ""  # spread over devices, e.g. "0=20GiB,1=20GiB" (models/device_map.py); "" = one device
    ignore_memory_check: bool = False  # load even when models/memory_guard.py says it will not fit
    label: ClassVar[str] = "load model"
    channel: ClassVar[str | None] = "load"


@dataclass(frozen=True)
class AddSae(Request):
    spec: str
    key: str | None = None
    label: ClassVar[str] = "add SAE"


@dataclass(frozen=True)
class RemoveSae(Request):
    key: str
    label: ClassVar[str] = "remove SAE"


@dataclass(frozen=True)
class Generate(Request):
    """The baseline and every variant of `plan`, one batch, streamed token by token."""

    prompt: str
    plan: SteeringPlan
    settings: SamplingSettings
    chat: bool = True
    label: ClassVar[str] = "generate"
    channel: ClassVar[str | None] = "generate"


@dataclass(frozen=True)
class Heatmap(Request):
    """Tokens × top features of one pane's text at one SAE."""

    pane: str
    token_ids: tuple[int, ...]
    prompt_len: int
    sae_key: str
    n_features: int = 16
    label: ClassVar[str] = "heatmap"
    channel: ClassVar[str | None] = "heatmap"


@dataclass(frozen=True)
class FeatureLayers(Request):
    """One feature across layers: its own SAE and the nearest decoder direction at every other one."""

    pane: str
    token_ids: tuple[int, ...]
    prompt_len: int
    sae_key: str
    feature: int
    label: ClassVar[str] = "feature across layers"
    channel: ClassVar[str | None] = "feature_layers"


@dataclass(frozen=True)
class Inspect(Request):
    sae_key: str
    feature: int
    label: ClassVar[str] = "inspect feature"
    channel: ClassVar[str | None] = "inspector"


@dataclass(frozen=True)
class UnitScales(Request):
    """The feature's strength units (raw, × max activation, × residual norm) and its label."""

    sae_key: str
    feature: int
    label: ClassVar[str] = "feature units"
    urgent: ClassVar[bool] = True


@dataclass(frozen=True)
class Effect(Request):
    """Did the steer take effect: each steered feature re-measured by the unsteered model on every pane."""

    plan: SteeringPlan
    result: GenerationResult
    label: ClassVar[str] = "steer effect"
    channel: ClassVar[str | None] = "effect"


@dataclass(frozen=True)
class SearchFeatures(Request):
    query: str
    limit: int = 50
    label: ClassVar[str] = "search features"
    channel: ClassVar[str | None] = "search"


@dataclass(frozen=True)
class FeatureIndexes(Request):
    """Labels and densities of the SAEs' features (all SAEs, or `keys`), for searching in the front end."""

    keys: tuple[str, ...] | None = None
    label: ClassVar[str] = "feature labels"


@dataclass(frozen=True)
class RecordSession(Request):
    """The Session of the loaded model and SAEs with these inputs and (if given) this run.

    Runs on the model's side because a session records what only it knows (weight hashes, the device, the unit
    scales each edit was converted with).
    """

    prompt: str
    plan: SteeringPlan
    settings: SamplingSettings
    chat: bool
    result: GenerationResult | None = None
    analysis: tuple[tuple[str, AnalysisValue], ...] = ()
    label: ClassVar[str] = "record session"
    urgent: ClassVar[bool] = True


# -- telling features apart (issue 12; handlers in workbench/jobs/feature_handlers.py) ----------------------------
@dataclass(frozen=True)
class Neighbours(Request):
    """The features nearest to one feature of its SAE: decoder and encoder cosine at once; co-activation (Jaccard,
    correlation) when cached, or when `coactivation` asks for the corpus pass (about two minutes the first time)."""

    sae_key: str
    feature: int
    top: int = 10
    coactivation: bool = False
    label: ClassVar[str] = "neighbours"
    channel: ClassVar[str | None] = "neighbours"


@dataclass(frozen=True)
class MinimalPair(Request):
    """The features that tell two texts apart at the tokens where they differ, with per-token activations."""

    sae_key: str
    text_a: str
    text_b: str
    top: int = 10
    label: ClassVar[str] = "minimal pair"
    channel: ClassVar[str | None] = "compare"


@dataclass(frozen=True)
class ContrastSets(Request):
    """Features ranked by effect size and AUROC between two files of texts (A: about a concept, B: without it)."""

    sae_key: str
    file_a: str
    file_b: str
    top: int = 10
    label: ClassVar[str] = "contrast sets"
    channel: ClassVar[str | None] = "compare"


@dataclass(frozen=True)
class Selectivity(Request):
    """Differential steering: steer A, and separately B, at the same strength; read both on every output."""

    sae_key_a: str
    feature_a: int
    sae_key_b: str
    feature_b: int
    strength: float
    unit: str = "raw"
    prompt: str = ""  # "" = the neutral default prompt
    max_new_tokens: int = 32
    label: ClassVar[str] = "differential steering"
    channel: ClassVar[str | None] = "selectivity"


@dataclass(frozen=True)
class FeatureWarnings(Request):
    """Near-duplicates (decoder cosine ≥ 0.7 in any loaded SAE) and the surface-string check of a steered feature."""

    sae_key: str
    feature: int
    label: ClassVar[str] = "feature warnings"


@dataclass(frozen=True)
class ImportLabels(Request):
    """Import a labels file (Neuronpedia JSON/JSONL export or CSV feature,label) for one loaded SAE."""

    path: str
    sae_key: str
    label: ClassVar[str] = "import labels"


# -- sweeps (issue 11; handler in workbench/jobs/sweep_handlers.py) -----------------------------------------------
@dataclass(frozen=True)
class RunSweep(Request):
    """Run a sweep, or resume it: rows are written to `folder` as they finish (None: this spec's folder in the
    cache), and rows already there are sent first instead of generated again. Newest wins: one sweep at a time."""

    sweep_id: str
    spec: SweepSpec
    folder: str | None = None
    batch_size: int | None = None  # None: from the model size and free memory
    label: ClassVar[str] = "sweep"
    channel: ClassVar[str | None] = "sweep"


# -- SAE quality (issue 13; handler in workbench/jobs/quality_handlers.py) ----------------------------------------
SHIPPED_TEXTS = "shipped"  # SaeQuality.source: the shipped held-out corpus (else the path of the user's text file)


@dataclass(frozen=True)
class SaeQuality(Request):
    """One SAE's quality report (robust FVE with its interval, baselines, CE-loss recovered, KL, L0, dead / dense,
    massive tokens, feature densities) on the first `max_texts` of the shipped held-out corpus or a text file."""

    sae_key: str
    source: str = SHIPPED_TEXTS
    max_texts: int = 80
    max_tokens: int = 128
    label: ClassVar[str] = "SAE quality"
    channel: ClassVar[str | None] = "quality"
