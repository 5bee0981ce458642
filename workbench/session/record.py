"""Build a Session from a live engine and a generation, and check what a saved session needs on disk.

Runs where the engine lives (the model's worker thread or process): it reads the loaded SAEs' decoder rows
for the unit scales. What it returns is plain data and may go anywhere.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import __version__
from workbench.errors import WorkbenchError
from workbench.hashing import file_sha256, folder_weights_sha256, sae_folder_sha256
from workbench.models.sampling import SamplingSettings
from workbench.models.spec import EMBEDDED_NAME, ModelSource, ModelSpec, embedded_gguf_path
from workbench.saes.selection import sae_for_edit
from workbench.saes.spec import SaeSource
from workbench.session.model import (
    AnalysisValue,
    EditOutcome,
    Environment,
    ModelRecord,
    PaneOutput,
    SaeRecord,
    Session,
)
from workbench.steering.plan import SteeringPlan
from workbench.steering.units import UnitScales, unit_scales

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.models.edits import ReportedEdit
    from workbench.models.generation import GenerationResult
    from workbench.saes.loader import LoadedSae

EMBEDDED_SPEC = "default"
LIBRARIES = ("torch", "transformers", "sae-lens")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def record_session(
    engine: Engine,
    prompt: str,
    plan: SteeringPlan,
    settings: SamplingSettings,
    chat: bool = True,
    result: GenerationResult | None = None,
    analysis: Mapping[str, AnalysisValue] | None = None,
) -> Session:
    """The session for this engine's model and SAEs, this prompt and plan, and (if given) the run's outputs."""
    outputs: tuple[PaneOutput, ...] = ()
    prompt_ids: tuple[int, ...] = ()
    if result is not None:
        if len(result.panes) != len(plan.variants):
            raise WorkbenchError(f"the result has {len(result.panes)} panes for {len(plan.variants)} variants")
        prompt_ids = tuple(result.prompt_ids)
        outputs = tuple(
            PaneOutput(
                name=pane.name,
                token_ids=tuple(pane.token_ids),
                text=pane.text,
                finish_reason=pane.finish_reason,
                edits=tuple(
                    EditOutcome(
                        edit=f.edit.describe(),
                        raw_strength=f.raw_strength,
                        positions=f.positions,
                        maxact_scale=(s := edit_scales(engine.saes, f.edit)).maxact,
                        resid_scale=s.resid,
                    )
                    for f in pane.edits_fired
                ),
            )
            for pane in result.panes
        )
        settings = result.settings
    info = engine.backend.info
    return Session(
        model=model_record(engine),
        saes=sae_records(engine),
        prompt=prompt,
        chat=chat,
        settings=settings,
        plan=plan,
        environment=Environment(
            device=info.device, dtype=info.dtype, versions=library_versions(), backend=info.backend
        ),
        prompt_ids=prompt_ids,
        outputs=outputs,
        analysis=dict(analysis or {}),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def model_record(engine: Engine) -> ModelRecord:
    """The loaded model: how to load it again (its spec) and the hash of its weights (or its hub revision)."""
    info = engine.backend.info
    # A model built in memory (tests) has no spec to load it again: its record keeps the name it was given.
    base = ModelRecord(
        spec=info.source or info.name,
        source=ModelSource.FOLDER.value,
        name=info.name,
        architecture=info.architecture,
        n_layers=info.n_layers,
        d_model=info.d_model,
        vocab_size=info.vocab_size,
    )
    if info.source == ModelSpec(ModelSource.EMBEDDED, "").describe():
        sha = file_sha256(embedded_gguf_path())
        return replace(base, spec=EMBEDDED_SPEC, source=ModelSource.EMBEDDED.value, sha256=sha)
    try:
        spec = ModelSpec.parse(info.source)
    except WorkbenchError:
        return base
    if spec.source is ModelSource.GGUF:
        return replace(base, spec=spec.location, source=spec.source.value, sha256=file_sha256(spec.location))
    if spec.source is ModelSource.FOLDER:
        digest = folder_weights_sha256(spec.location)
        return replace(base, spec=spec.location, source=spec.source.value, sha256=digest)
    # Hub: pin the revision to the snapshot actually loaded (its folder is named by the commit).
    snapshot = Path(info.path)
    revision = snapshot.name if _COMMIT.match(snapshot.name) else spec.revision
    return replace(
        base,
        spec=spec.location + (f"@{revision}" if revision else ""),
        source=spec.source.value,
        sha256=folder_weights_sha256(snapshot) if snapshot.is_dir() else None,
        revision=revision,
    )


def sae_records(engine: Engine) -> tuple[SaeRecord, ...]:
    return tuple(
        SaeRecord(
            key=s.key,
            spec=s.spec.describe(),
            source=s.spec.source.value,
            layer=s.layer,
            d_sae=s.d_sae,
            hook_name=s.hook_name,
            sha256=sae_folder_sha256(s.spec.location) if s.spec.source is SaeSource.FOLDER else None,
        )
        for s in engine.saes
    )


def edit_scales(saes: Sequence[LoadedSae], edit: ReportedEdit) -> UnitScales:
    """What one ×maxact and one ×resid unit are worth as raw coefficients for this edit (None = no statistics)."""
    import numpy as np

    if edit.vector is not None:
        resid = next((s.stats.resid_norm for s in saes if s.layer == edit.layer and s.stats), None)
        return unit_scales(None, resid, float(np.linalg.norm(np.asarray(edit.vector, dtype=np.float64))))
    sae = sae_for_edit(saes, edit.layer, edit.sae)
    if sae is None or edit.feature is None or edit.feature >= sae.d_sae:
        return UnitScales(maxact=None, resid=None)
    from workbench.saes.directions import sae_directions

    norm = float(sae_directions(sae.sae, [edit.feature])[0].float().norm())
    stats = sae.stats
    return unit_scales(
        float(stats.max_activation[edit.feature]) if stats is not None else None,
        stats.resid_norm if stats is not None else None,
        norm,
    )


def library_versions() -> dict[str, str]:
    """The app's and the numerical libraries' versions (read from package metadata: nothing is imported)."""
    versions = {"steering-workbench": __version__, "python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


# -- files a session needs ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MissingFile:
    """A file or folder the session names that is not there; the UI offers to locate it."""

    kind: str  # "model" or "sae"
    key: str  # "model", or the SAE's key (for Session.with_sae_spec)
    path: str
    message: str


def missing_files(session: Session) -> list[MissingFile]:
    """Every model / SAE file or folder the session names that cannot be found (hub and registry not checked)."""
    missing: list[MissingFile] = []
    m = session.model
    if m.source == ModelSource.EMBEDDED.value:
        try:
            embedded_gguf_path()
        except WorkbenchError as exc:
            missing.append(MissingFile("model", "model", EMBEDDED_NAME, str(exc)))
    elif m.source == ModelSource.GGUF.value and not Path(m.spec).is_file():
        missing.append(MissingFile("model", "model", m.spec, f"model file not found: {m.spec}"))
    elif m.source == ModelSource.FOLDER.value and not (Path(m.spec) / "config.json").is_file():
        missing.append(MissingFile("model", "model", m.spec, f"model folder not found: {m.spec}"))
    for s in session.saes:
        if s.source == SaeSource.FOLDER.value and not (Path(s.spec) / "cfg.json").is_file():
            missing.append(MissingFile("sae", s.key, s.spec, f"SAE {s.key} folder not found: {s.spec}"))
    return missing


def hash_differences(session: Session) -> list[str]:
    """Notes for every recorded hash that no longer matches the file on disk (the weights changed)."""
    notes: list[str] = []
    m = session.model
    current: str | None = None
    try:
        if m.source == ModelSource.EMBEDDED.value:
            current = file_sha256(embedded_gguf_path())
        elif m.source == ModelSource.GGUF.value:
            current = file_sha256(m.spec)
        elif m.source == ModelSource.FOLDER.value:
            current = folder_weights_sha256(m.spec)
    except (OSError, WorkbenchError):
        current = None
    if m.sha256 and current and current != m.sha256:
        notes.append(f"the model's weights differ from the recording ({_digests(current, m.sha256)})")
    for s in session.saes:
        if not s.sha256 or s.source != SaeSource.FOLDER.value:
            continue
        try:
            now = sae_folder_sha256(s.spec)
        except OSError:
            continue
        if now != s.sha256:
            notes.append(f"SAE {s.key}'s weights differ from the recording ({_digests(now, s.sha256)})")
    return notes


def changed_since(recorded: Session, loaded: Session) -> list[str]:
    """Notes for the model and every SAE (by key) whose weights differ between a recorded session and the record
    of what is loaded now: with changed SAE weights, the session's feature ids may name other features."""
    notes: list[str] = []
    was, now = recorded.model.sha256, loaded.model.sha256
    if was and now and was != now:
        notes.append(f"the model changed since this session was recorded ({_digests(now, was)})")
    current = {s.key: s.sha256 for s in loaded.saes}
    for s in recorded.saes:
        now = current.get(s.key)
        if s.sha256 and now and now != s.sha256:
            notes.append(
                f"SAE {s.key} changed since this session was recorded ({_digests(now, s.sha256)}): "
                "its feature ids may name other features now, and a replay will not give the recorded tokens"
            )
    return notes


def _digests(now: str, recorded: str) -> str:
    return f"sha256 now {now[:12]}…, recorded {recorded[:12]}…"
