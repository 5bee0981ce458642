"""Run a sweep: every grid row generated as a row of a batched generation, measured, and kept as it finishes.

STEP 1  expand the spec (grid.py) and drop the rows a store already holds (a resumed sweep);
STEP 2  per prompt (rows of one batch share one prompt), chunks of `batch_size` rows, each row with its own
        edit and its own seed (GenerationRun.row_seeds), streamed token by token with progress and an ETA;
STEP 3  the batch's finished rows are measured by the unsteered model in one batched forward (measure.py) and
        appended to the store at once;
STEP 4  drift once per (layer, strength) cell (drift.py).
A cancel stops at the next token: rows that finished (also inside the cancelled batch, by EOS or length) are
measured and kept; the result says `cancelled`, and a rerun with the same spec and store resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from workbench.cancel import CancelToken
from workbench.errors import Cancelled, InputError
from workbench.models.edits import EditMode
from workbench.progress import Progress, ProgressCallback, ignore_progress
from workbench.sweeps.batching import choose_batch_size, free_memory_bytes
from workbench.sweeps.drift import DriftEdit, DriftMeter, heldout_sentences
from workbench.sweeps.grid import Grid, GridRow, build_grid, drift_id
from workbench.sweeps.measure import ConceptProbe, Measurement, measure_rows
from workbench.sweeps.records import BASELINE, DriftCell, SweepResult, SweepRow, TargetInfo
from workbench.sweeps.spec import SweepPrompt, SweepSpec

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.models.generation import PaneResult
    from workbench.models.protocol import ModelBackend
    from workbench.steering.plan import SteeringPlan
    from workbench.sweeps.store import RowStore

RowCallback = Callable[[SweepRow], None]


@runtime_checkable
class SystemPromptEncoder(Protocol):
    """A backend that can place a system prompt with its chat template (optional beyond `ModelBackend`)."""

    def encode_chat(self, text: str, system: str) -> list[int]: ...


def encode_sweep_prompt(backend: ModelBackend, prompt: SweepPrompt) -> list[int]:
    """A prompt's token ids. A backend without system-prompt support gets the system text folded into the user
    message: the nearest it can do, and the same for every row, so rows stay comparable."""
    if prompt.system is None:
        return backend.encode_prompt(prompt.text, prompt.chat)
    if isinstance(backend, SystemPromptEncoder):
        return backend.encode_chat(prompt.text, prompt.system)
    return backend.encode_prompt(f"{prompt.system}\n\n{prompt.text}", True)


@dataclass
class _Clock:
    """Progress in row-tokens (rows × max new tokens), with an ETA from the rate so far."""

    total: int
    progress: ProgressCallback
    rows_total: int
    done: int = 0
    rows_done: int = 0
    start: float = 0.0

    def tick(self, amount: int) -> None:
        self.done = min(self.total, self.done + amount)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        phase = f"sweep: {self.rows_done}/{self.rows_total} rows"
        self.progress(Progress(phase, self.done, self.total, eta_s=eta))


def run_sweep(
    engine: Engine,
    spec: SweepSpec,
    store: RowStore | None = None,
    batch_size: int | None = None,
    progress: ProgressCallback = ignore_progress,
    on_row: RowCallback | None = None,
    cancel: CancelToken | None = None,
) -> SweepResult:
    """Run (or resume, with a `store` that holds finished rows) the sweep; see the module docstring."""
    backend = engine.backend
    backend.capabilities.require_capture("measure a sweep")
    if spec.mode is EditMode.CLAMP and EditMode.CLAMP not in backend.capabilities.modes:
        raise InputError("this model backend cannot clamp: run the sweep with --mode add")
    grid = build_grid(engine, spec)
    probes = _probes(engine, grid.targets)
    cells = {(r.sae, r.feature, r.strength): r for r in grid.rows if r.kind != BASELINE}
    engine.compile(_plan(spec, list(cells.values())))  # every edit checked before any generation
    done = dict(store.rows) if store is not None else {}
    pending = [r for r in grid.rows if r.id not in done]
    reused = len(grid.rows) - len(pending)
    timing = {"generate_s": 0.0, "measure_s": 0.0, "drift_s": 0.0}
    wall = time.perf_counter()
    if batch_size is None:
        batch_size = _auto_batch_size(engine, spec)
    if not backend.capabilities.batched:
        batch_size = 1
    chunks = _chunks(pending, max(1, batch_size))
    clock = _Clock(sum(len(c) for c in chunks) * spec.max_new_tokens, progress, len(pending), start=wall)
    finished: dict[str, SweepRow] = dict(done)
    cancelled = False
    for chunk in chunks:
        if cancel is not None and cancel.cancelled:
            cancelled = True
            break
        rows, was_cancelled = _run_chunk(engine, spec, chunk, probes, clock, timing, cancel)
        for row in rows:
            finished[row.id] = row
            if store is not None:
                store.add_row(row)
            if on_row is not None:
                on_row(row)
        if was_cancelled:
            cancelled = True
            break
    drift: list[DriftCell] = []
    if not cancelled:
        try:
            drift = _drift(engine, spec, grid, store, timing, cancel)
        except Cancelled:  # the cells measured so far are in the store; a rerun measures the rest
            cancelled = True
    timing["wall_s"] = time.perf_counter() - wall
    kept = [finished[r.id] for r in grid.rows if r.id in finished]
    return SweepResult(
        spec=spec,
        targets=grid.targets,
        rows=tuple(r for r in kept if r.kind != BASELINE),
        baseline=tuple(r for r in kept if r.kind == BASELINE),
        drift=tuple(drift),
        cancelled=cancelled or (cancel is not None and cancel.cancelled),
        reused=reused,
        timing=timing,
    )


def _auto_batch_size(engine: Engine, spec: SweepSpec) -> int:
    backend = engine.backend
    longest = max(len(encode_sweep_prompt(backend, p)) for p in spec.prompts)
    return choose_batch_size(backend.info, longest + spec.max_new_tokens, free_memory_bytes(backend.info.device))


def _chunks(rows: Sequence[GridRow], size: int) -> list[list[GridRow]]:
    """Rows grouped by prompt (a batch shares one prompt), each group cut into batches of at most `size`."""
    by_prompt: dict[int, list[GridRow]] = {}
    for r in rows:
        by_prompt.setdefault(r.prompt_index, []).append(r)
    return [group[i : i + size] for group in by_prompt.values() for i in range(0, len(group), size)]


def _plan(spec: SweepSpec, rows: Sequence[GridRow]) -> SteeringPlan:
    """One variant per row (named by its id); a baseline row has no edit."""
    from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant

    variants = []
    for r in rows:
        edits: tuple[FeatureEdit, ...] = ()
        if r.kind != BASELINE:
            assert r.layer is not None and r.feature is not None and r.strength is not None
            edits = (
                FeatureEdit(
                    layer=r.layer, feature=r.feature, strength=r.strength, mode=spec.mode, unit=spec.unit, sae=r.sae
                ),
            )
        variants.append(Variant(r.id, edits))
    return SteeringPlan(tuple(variants))


def _run_chunk(
    engine: Engine,
    spec: SweepSpec,
    chunk: list[GridRow],
    probes: list[ConceptProbe],
    clock: _Clock,
    timing: dict[str, float],
    cancel: CancelToken | None,
) -> tuple[list[SweepRow], bool]:
    """Generate one batch; measure and return its finished rows, and whether it was cancelled."""
    backend = engine.backend
    compiled = engine.compile(_plan(spec, chunk))
    prompt_ids = encode_sweep_prompt(backend, chunk[0].prompt)
    started = time.perf_counter()
    run = backend.generate(prompt_ids, compiled, spec.row_settings(chunk[0].seed), cancel)
    if len(chunk) > 1:  # several seeds in one batch: each row draws as a run with its own seed would
        run = replace(run, row_seeds=[r.seed for r in chunk])
    steps = 0
    for _event in run:
        steps += 1
        clock.tick(len(chunk))
    result = run.result
    assert result is not None
    timing["generate_s"] += time.perf_counter() - started
    clock.tick((spec.max_new_tokens - steps) * len(chunk) if not result.cancelled else 0)
    started = time.perf_counter()
    kept = [(r, pane) for r, pane in zip(chunk, result.panes, strict=True) if pane.finish_reason != "cancelled"]
    read = [(pane.token_ids, _row_probes(r, probes)) for r, pane in kept]
    measured = measure_rows(backend, prompt_ids, read) if kept else []  # one batched forward for the chunk
    rows = [_measured(r, prompt_ids, pane, m) for (r, pane), m in zip(kept, measured, strict=True)]
    clock.rows_done += len(rows)
    timing["measure_s"] += time.perf_counter() - started
    clock.tick(0)
    return rows, result.cancelled


def _row_probes(row: GridRow, probes: list[ConceptProbe]) -> list[ConceptProbe]:
    """A baseline row is read for every target (each steered row compares with it); a steered row for its own."""
    return probes if row.kind == BASELINE else [p for p in probes if p.name == row.target]


def _measured(row: GridRow, prompt_ids: list[int], pane: PaneResult, m: Measurement) -> SweepRow:
    return SweepRow(
        id=row.id,
        kind=row.kind,
        prompt=row.prompt.text,
        system=row.prompt.system,
        chat=row.prompt.chat,
        seed=row.seed,
        text=pane.text,
        prompt_ids=tuple(prompt_ids),
        token_ids=tuple(pane.token_ids),
        finish_reason=pane.finish_reason,
        nll=m.nll,
        distinct1=m.distinct1,
        distinct2=m.distinct2,
        longest_repeat=m.longest_repeat,
        concept=m.concept,
        fires=m.fires,
        target=row.target,
        sae=row.sae,
        layer=row.layer,
        feature=row.feature,
        cosine=row.cosine,
        strength=row.strength,
    )


def _probes(engine: Engine, targets: Sequence[TargetInfo]) -> list[ConceptProbe]:
    return [ConceptProbe(t.name, engine.sae(t.sae), t.feature, t.max_activation or 1.0) for t in targets]


def _drift(
    engine: Engine,
    spec: SweepSpec,
    grid: Grid,
    store: RowStore | None,
    timing: dict[str, float],
    cancel: CancelToken | None,
) -> list[DriftCell]:
    """One KL value per (target, SAE, feature, strength) cell; cells a store holds are reused."""
    started = time.perf_counter()
    known = dict(store.drift) if store is not None else {}
    groups: dict[tuple[str, str, int, int], list[float]] = {}
    for target, sae, layer, feature, _cosine, strength in grid.cells():
        groups.setdefault((target, sae, layer, feature), []).append(strength)
    meter: DriftMeter | None = None
    cells: list[DriftCell] = []
    for (target, sae, layer, feature), strengths in groups.items():
        fingerprint = engine.sae(sae).fingerprint
        ids = {s: drift_id(grid.context, target, fingerprint, feature, s) for s in strengths}
        todo = [s for s in strengths if ids[s] not in known]
        if todo:
            meter = meter or DriftMeter(engine, heldout_sentences(engine))
            edit = DriftEdit(sae, layer, feature, tuple(todo))
            values = meter.measure(edit, spec.mode.value, spec.unit.value, cancel)
            for s, (kl, positions) in zip(todo, values, strict=True):
                cell = DriftCell(ids[s], target, sae, layer, feature, s, kl, positions)
                known[cell.id] = cell
                if store is not None:
                    store.add_drift(cell)
        cells.extend(known[ids[s]] for s in strengths)
    timing["drift_s"] = time.perf_counter() - started
    return cells
