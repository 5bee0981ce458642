"""What the model owner tells a front end: one frozen dataclass per kind of news.

Result events carry a job's result (exactly once); progress and token events stream while it runs; every job
ends with exactly one of `JobFinished`, `JobFailed` or `JobCancelled`, which name the request that ended.
`HostCrashed` says the model process died: every job in flight ends with `JobFailed` before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from workbench.jobs.requests import Request
from workbench.models.generation import GenerationResult, TokenEvent
from workbench.models.protocol import Capabilities, ModelInfo
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary
from workbench.steering.plan import SteeringPlan
from workbench.steering.units import UnitScales

if TYPE_CHECKING:
    from workbench.analysis.contrast import Contrast
    from workbench.analysis.effect import EffectRow
    from workbench.analysis.feature_layers import FeatureLayers as FeatureLayersData
    from workbench.analysis.feature_search import FeatureHit, FeatureIndex
    from workbench.analysis.heatmap import HeatmapData
    from workbench.analysis.inspect import FeatureCard
    from workbench.analysis.neighbours import FeatureNeighbours
    from workbench.analysis.sae_quality import SaeQualityReport
    from workbench.analysis.selectivity import Selectivity
    from workbench.session.model import Session
    from workbench.sweeps.records import DriftCell, SweepRow, TargetInfo


@dataclass(frozen=True)
class Event:
    """Base of every event; `job` is the id of the job that sent it (0 for the host itself)."""

    job: int


# -- streaming ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProgressMade(Event):
    progress: Progress


@dataclass(frozen=True)
class TokensGenerated(Event):
    step: TokenEvent


# -- results (one per job that has one) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelLoaded(Event):
    info: ModelInfo
    capabilities: Capabilities  # what the window offers: edit modes and analyses the backend cannot do are greyed
    backend: str = "torch"  # the registry name it was loaded with


@dataclass(frozen=True)
class SaesChanged(Event):
    saes: tuple[SaeSummary, ...]


@dataclass(frozen=True)
class SaeLoadFailed(Event):
    """One SAE of a model load did not load; the model and the other SAEs did."""

    spec: str
    message: str


@dataclass(frozen=True)
class Generated(Event):
    result: GenerationResult
    plan: SteeringPlan


@dataclass(frozen=True)
class HeatmapReady(Event):
    data: HeatmapData


@dataclass(frozen=True)
class FeatureLayersReady(Event):
    data: FeatureLayersData


@dataclass(frozen=True)
class CardReady(Event):
    card: FeatureCard


@dataclass(frozen=True)
class ScalesReady(Event):
    sae_key: str
    feature: int
    scales: UnitScales
    feature_label: str


@dataclass(frozen=True)
class EffectReady(Event):
    rows: tuple[EffectRow, ...]


@dataclass(frozen=True)
class SearchResults(Event):
    query: str
    hits: tuple[FeatureHit, ...]


@dataclass(frozen=True)
class FeatureIndexReady(Event):
    indexes: tuple[FeatureIndex, ...]


@dataclass(frozen=True)
class SessionRecorded(Event):
    session: Session


# -- telling features apart (issue 12) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NeighboursReady(Event):
    """Sent once with the cosine neighbours (and co-activation where cached), and once more with co-activation
    when the request asked for the corpus pass; `coactivation` says whether Jaccard and correlation are filled."""

    data: FeatureNeighbours
    coactivation: bool
    imported: tuple[tuple[int, str], ...] = ()  # (feature, imported label) of the feature and its neighbours


@dataclass(frozen=True)
class ContrastReady(Event):
    """A minimal pair's or two contrast sets' ranked features (`contrast.sets` tells which)."""

    contrast: Contrast
    text_a: str  # the pair's texts, or the two files' names
    text_b: str


@dataclass(frozen=True)
class SelectivityReady(Event):
    result: Selectivity


@dataclass(frozen=True)
class FeatureWarningsReady(Event):
    """Why steering this feature may not do what its label says; no warnings = an empty tuple."""

    sae_key: str
    feature: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class LabelsImported(Event):
    sae_key: str
    summary: str  # one line: how many labels were kept, and every kind of row that was not
    imported: int
    skipped: int


# -- how a job ended ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobFinished(Event):
    request: Request


@dataclass(frozen=True)
class JobFailed(Event):
    request: Request
    message: str  # one readable line
    kind: str = "WorkbenchError"  # the exception class, for logs


@dataclass(frozen=True)
class JobCancelled(Event):
    request: Request


@dataclass(frozen=True)
class HostCrashed(Event):
    message: str


JobEnd = JobFinished | JobFailed | JobCancelled


# -- sweeps (issue 11) -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepStarted(Event):
    """The grid is resolved: the targets as the sweep reads them, how many rows it has (baselines included) and
    how many of them were already in the folder (they follow at once as `SweepRowsReady`)."""

    sweep_id: str
    targets: tuple[TargetInfo, ...]
    rows_total: int
    reused: int
    folder: str


@dataclass(frozen=True)
class SweepRowsReady(Event):
    """Rows that finished (one at a time while the sweep runs; a few at a time for rows read back from disk)."""

    sweep_id: str
    rows: tuple[SweepRow, ...]


@dataclass(frozen=True)
class SweepEnded(Event):
    """The drift cells and how the run ended; the job then ends finished (or cancelled, keeping every row)."""

    sweep_id: str
    drift: tuple[DriftCell, ...]
    cancelled: bool
    wall_s: float


# -- SAE quality (issue 13) --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SaeQualityReady(Event):
    """An SAE's quality report (plain data: figures, what they were measured on, the feature densities)."""

    sae_key: str
    report: SaeQualityReport
