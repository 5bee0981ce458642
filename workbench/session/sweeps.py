"""The sweeps a session holds: each one's spec, the "best setting" thresholds it is read with, and what it has
produced so far (the resolved targets, every finished row, the drift cells), as plain data in the session file.

A sweep is saved with its rows, not only its summary: the cells, the per-prompt steerability and the best setting
are recomputed from them on opening (with the thresholds the user chose), and a cell's texts can be read again.
The session key `"sweeps"` is optional (files without it hold none), so no schema step was needed to add it;
a version of the app that predates it ignores the key. Reading checks every field as the rest of a session is
checked, so a damaged sweep is one SessionError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from workbench.errors import WorkbenchError
from workbench.session.validate import Node
from workbench.sweeps.records import BASELINE, STEERED, DriftCell, SweepResult, SweepRow, TargetInfo
from workbench.sweeps.spec import SweepSpec
from workbench.sweeps.summary import Thresholds

if TYPE_CHECKING:
    from workbench.sweeps.summary import SweepSummary

RUNNING, DONE, CANCELLED, FAILED = "running", "done", "cancelled", "failed"
STATUSES = (RUNNING, DONE, CANCELLED, FAILED)
MAX_SWEEPS = 64


@dataclass(frozen=True)
class SweepRun:
    """What a sweep has produced so far. `status` is how its last run ended (`running` while it runs, and for a
    sweep saved or killed mid-run: running it again resumes it)."""

    targets: tuple[TargetInfo, ...] = ()
    rows: tuple[SweepRow, ...] = ()  # steered rows, in the order they finished
    baseline: tuple[SweepRow, ...] = ()
    drift: tuple[DriftCell, ...] = ()
    status: str = RUNNING

    def with_rows(self, rows: tuple[SweepRow, ...]) -> SweepRun:
        """These rows added (a row already held, by id, is replaced)."""
        steered = {r.id: r for r in self.rows}
        base = {r.id: r for r in self.baseline}
        for row in rows:
            (base if row.kind == BASELINE else steered)[row.id] = row
        return replace(self, rows=tuple(steered.values()), baseline=tuple(base.values()))


@dataclass(frozen=True)
class SavedSweep:
    """One sweep of the session; `id` names it within the session (and its job's events)."""

    id: str
    spec: SweepSpec
    thresholds: Thresholds = field(default_factory=Thresholds)
    run: SweepRun = field(default_factory=SweepRun)

    @property
    def title(self) -> str:
        what = self.spec.recipe or "custom"
        return f"{', '.join(t.name for t in self.spec.targets)} · {what}"

    def result(self) -> SweepResult:
        return SweepResult(
            spec=self.spec,
            targets=self.run.targets,
            rows=self.run.rows,
            baseline=self.run.baseline,
            drift=self.run.drift,
            cancelled=self.run.status == CANCELLED,
        )

    def summary(self) -> SweepSummary:
        from workbench.sweeps.summary import summarise

        return summarise(self.result(), self.thresholds)


# -- writing ------------------------------------------------------------------------------------------------
def sweep_to_dict(sweep: SavedSweep) -> dict[str, Any]:
    run = sweep.run
    return {
        "id": sweep.id,
        "spec": sweep.spec.to_dict(),
        "thresholds": {
            "reliability_margin": sweep.thresholds.reliability_margin,
            "max_nll_increase": sweep.thresholds.max_nll_increase,
        },
        "status": run.status,
        "targets": [_target_dict(t) for t in run.targets],
        "rows": [r.to_dict() for r in (*run.baseline, *run.rows)],
        "drift": [d.to_dict() for d in run.drift],
    }


def _target_dict(target: TargetInfo) -> dict[str, Any]:
    record = target.to_dict()
    record.pop("concept_unit", None)  # derived from max_activation
    return record


# -- reading ------------------------------------------------------------------------------------------------
def sweeps_from(root: Node) -> tuple[SavedSweep, ...]:
    """The session's sweeps (none when the file has no `sweeps` key: files written before sweeps)."""
    root.obj()
    if "sweeps" not in root.value:
        return ()
    items = root.get("sweeps").items()
    if len(items) > MAX_SWEEPS:
        root.get("sweeps").fail(f"at most {MAX_SWEEPS} sweeps")
    sweeps = tuple(_sweep(n) for n in items)
    ids = [s.id for s in sweeps]
    if len(set(ids)) != len(ids):
        root.get("sweeps").fail("two sweeps share an id")
    return sweeps


def _sweep(n: Node) -> SavedSweep:
    spec_node = n.get("spec")
    spec_node.obj()
    try:
        spec = SweepSpec.from_dict(spec_node.value)
    except WorkbenchError as exc:
        spec_node.fail(str(exc))
    t = n.get("thresholds")
    rows = [_row(r) for r in n.get("rows").items()]
    return SavedSweep(
        id=n.get("id").string(nonempty=True),
        spec=spec,
        thresholds=Thresholds(t.get("reliability_margin").number(), t.get("max_nll_increase").number()),
        run=SweepRun(
            targets=tuple(_target(x) for x in n.get("targets").items()),
            rows=tuple(r for r in rows if r.kind == STEERED),
            baseline=tuple(r for r in rows if r.kind == BASELINE),
            drift=tuple(_drift(d) for d in n.get("drift").items()),
            status=n.get("status").choice(STATUSES),
        ),
    )


def _target(n: Node) -> TargetInfo:
    steer_at = tuple(
        (s.get("sae").string(nonempty=True), s.get("layer").integer(0), s.get("feature").integer(0), _num(s, "cosine"))
        for s in n.get("steer_at").items()
    )
    return TargetInfo(
        name=n.get("name").string(nonempty=True),
        sae=n.get("sae").string(nonempty=True),
        layer=n.get("layer").integer(0),
        feature=n.get("feature").integer(0),
        max_activation=n.get("max_activation").optional(Node.number),
        steer_at=steer_at,
    )


def _num(n: Node, key: str) -> float:
    return n.get(key).number()


def _per_target(n: Node) -> dict[str, float]:
    n.obj()
    assert isinstance(n.value, dict)
    return {str(k): n.get(k).number() for k in n.value}


def _row(n: Node) -> SweepRow:
    kind = n.get("kind").choice((BASELINE, STEERED))
    steered = kind == STEERED

    def opt(key: str, read: Any) -> Any:
        value = n.get(key).optional(read) if key in n.value else None
        if steered and value is None and key in ("target", "sae", "layer", "feature", "strength"):
            n.get(key).fail("a steered row names its edit")
        return value

    return SweepRow(
        id=n.get("id").string(nonempty=True),
        kind=kind,
        prompt=n.get("prompt").string(nonempty=True),
        system=n.get("system").optional(Node.string),
        chat=n.get("chat").boolean(),
        seed=n.get("seed").integer(0),
        text=n.get("text").string(),
        prompt_ids=tuple(n.get("prompt_ids").ints(0, 2**31)),
        token_ids=tuple(n.get("token_ids").ints(0, 2**31)),
        finish_reason=n.get("finish_reason").string(),
        nll=n.get("nll").optional(Node.number),
        distinct1=n.get("distinct1").optional(Node.number),
        distinct2=n.get("distinct2").optional(Node.number),
        longest_repeat=n.get("longest_repeat").integer(0),
        concept=_per_target(n.get("concept")),
        fires=_per_target(n.get("fires")),
        target=opt("target", Node.string),
        sae=opt("sae", Node.string),
        layer=opt("layer", lambda x: x.integer(0)),
        feature=opt("feature", lambda x: x.integer(0)),
        cosine=opt("cosine", Node.number),
        strength=opt("strength", Node.number),
    )


def _drift(n: Node) -> DriftCell:
    return DriftCell(
        id=n.get("id").string(nonempty=True),
        target=n.get("target").string(nonempty=True),
        sae=n.get("sae").string(nonempty=True),
        layer=n.get("layer").integer(0),
        feature=n.get("feature").integer(0),
        strength=n.get("strength").number(),
        kl=n.get("kl").number(),
        positions=n.get("positions").integer(0),
    )
