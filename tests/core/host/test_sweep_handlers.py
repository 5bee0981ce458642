"""The sweep request through the in-process host on the tiny model: the grid first, then every row as it finishes,
progress with an ETA, the end; a stopped sweep keeps its rows and running it again resumes from its folder."""

from __future__ import annotations

import pytest

from tests.factories import make_sae, tiny_backend
from workbench.engine import Engine
from workbench.host import InProcessHost
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import StrengthUnit
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget

SPEC = SweepSpec(
    targets=(SweepTarget("1", 5),),
    strengths=(0.0, 4.0),
    prompts=(SweepPrompt("The sea", chat=False), SweepPrompt("Hello there")),
    unit=StrengthUnit.RAW,
    max_new_tokens=5,
    sampling=SamplingSettings(temperature=1.0, top_p=1.0, stop_at_eos=False),
)


@pytest.fixture
def host(tmp_path):
    engine = Engine()
    engine._backend = tiny_backend()
    engine.add_sae(str(make_sae(tmp_path / "sae", d_in=64, layer=1)))
    events: list[ev.Event] = []
    hooks: list = []  # called with each event, on the model thread (a test stops the sweep from there)

    def receive(event: ev.Event) -> None:
        events.append(event)
        for hook in hooks:
            hook(event)

    host = InProcessHost(receive, engine)
    host.events, host.hooks = events, hooks
    yield host
    host.shutdown()


def _of(host, kind, job):
    return [e for e in host.events if isinstance(e, kind) and e.job == job]


def _rows(host, job):
    return [row for e in _of(host, ev.SweepRowsReady, job) for row in e.rows]


def test_a_sweep_streams_its_rows_and_writes_them_to_its_folder(host, tmp_path):
    job = host.submit(rq.RunSweep("s1", SPEC, folder=str(tmp_path / "out"), batch_size=2))
    assert isinstance(job.wait(300), ev.JobFinished)
    (started,) = _of(host, ev.SweepStarted, job.id)
    assert (started.sweep_id, started.rows_total, started.reused) == ("s1", 6, 0)
    assert started.targets[0].name == "L1:5"
    rows = _rows(host, job.id)
    assert len(rows) == 6 and len({r.id for r in rows}) == 6
    assert all(len(e.rows) == 1 for e in _of(host, ev.SweepRowsReady, job.id))  # one small message per row
    (ended,) = _of(host, ev.SweepEnded, job.id)
    assert not ended.cancelled and {d.strength for d in ended.drift} == {0.0, 4.0}
    assert any(p.progress.eta_s is not None for p in _of(host, ev.ProgressMade, job.id))
    kinds = [type(e) for e in host.events if e.job == job.id]
    assert kinds.index(ev.SweepStarted) < kinds.index(ev.SweepRowsReady) < kinds.index(ev.SweepEnded)
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"rows.jsonl", "cells.csv", "concept_vs_strength.png"}

    again = host.submit(rq.RunSweep("s1", SPEC, folder=str(tmp_path / "out")))
    assert isinstance(again.wait(300), ev.JobFinished)
    (resumed,) = _of(host, ev.SweepStarted, again.id)
    assert resumed.reused == 6 and sorted(r.id for r in _rows(host, again.id)) == sorted(r.id for r in rows)
    progress = [p.progress for p in _of(host, ev.ProgressMade, again.id)]
    assert not any(p.total and p.done < p.total for p in progress)  # nothing left to generate


def test_a_stopped_sweep_ends_cancelled_and_keeps_what_finished(host, tmp_path):
    def stop_after_first_row(event: ev.Event) -> None:  # a Stop click while rows stream
        if isinstance(event, ev.SweepRowsReady):
            job.cancel()

    host.hooks.append(stop_after_first_row)
    job = host.submit(rq.RunSweep("s2", SPEC, folder=str(tmp_path / "out"), batch_size=1))
    assert isinstance(job.wait(300), ev.JobCancelled)
    rows = _rows(host, job.id)
    (ended,) = _of(host, ev.SweepEnded, job.id)
    assert ended.cancelled and 1 <= len(rows) < 6
    lines = (tmp_path / "out" / "rows.jsonl").read_text().splitlines()
    assert len(lines) == len(rows)


def test_an_unknown_feature_fails_the_job_with_one_line(host):
    bad = SweepSpec(targets=(SweepTarget("1", 99999),), strengths=(1.0,), prompts=SPEC.prompts)
    end = host.submit(rq.RunSweep("s3", bad)).wait(60)
    assert isinstance(end, ev.JobFailed) and "unknown feature 1:99999" in end.message and "\n" not in end.message
