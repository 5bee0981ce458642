"""The in-process host: the same typed requests and events as the model process, on a thread (tiny model)."""

import threading

import pytest

from tests.factories import make_sae, tiny_backend
from workbench.engine import Engine
from workbench.host import InProcessHost
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant


@pytest.fixture
def host(tmp_path):
    engine = Engine()
    engine._backend = tiny_backend()  # the tiny model, without a load from disk
    engine.add_sae(str(make_sae(tmp_path / "sae", d_in=64, layer=1)))
    events: list[ev.Event] = []
    host = InProcessHost(events.append, engine)
    host.events = events
    yield host
    host.shutdown()
    assert not host.alive


def _of(host, kind, job):
    return [e for e in host.events if isinstance(e, kind) and e.job == job]


def test_a_generation_streams_tokens_and_sends_its_result_once(host):
    plan = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=1, feature=3, strength=4.0),)))
    job = host.submit(rq.Generate("hi", plan, SamplingSettings(temperature=0, max_new_tokens=5, stop_at_eos=False)))
    end = job.wait(60)
    assert isinstance(end, ev.JobFinished) and end.request is job.request
    (generated,) = _of(host, ev.Generated, job.id)
    assert [len(p.token_ids) for p in generated.result.panes] == [5, 5]
    assert len(_of(host, ev.TokensGenerated, job.id)) == 5
    assert host.events[-1] is end  # the end comes after every event of the job


def test_analyses_answer_with_their_typed_event(host):
    ids = tuple(host.engine.backend.encode_prompt("hello there", chat=False))
    heat = host.submit(rq.Heatmap("baseline", ids, 3, "L1"))
    card = host.submit(rq.Inspect("L1", 3))
    assert isinstance(heat.wait(60), ev.JobFinished) and isinstance(card.wait(60), ev.JobFinished)
    (data,) = _of(host, ev.HeatmapReady, heat.id)
    assert len(data.data.tokens) == len(ids)
    (shown,) = _of(host, ev.CardReady, card.id)
    assert shown.card.feature == 3


def test_bad_input_fails_the_job_with_one_line_and_the_host_keeps_serving(host):
    bad = host.submit(rq.Inspect("L9", 1)).wait(60)
    assert isinstance(bad, ev.JobFailed) and "\n" not in bad.message and "L9" in bad.message
    steer = SteeringPlan.with_baseline(Variant("v", (FeatureEdit(layer=7, feature=1, strength=1.0),)))
    out_of_range = host.submit(rq.Generate("hi", steer, SamplingSettings(max_new_tokens=2))).wait(60)
    assert isinstance(out_of_range, ev.JobFailed) and "out of range" in out_of_range.message
    assert isinstance(host.submit(rq.SearchFeatures("f3")).wait(60), ev.JobFinished)


def test_a_cancelled_generation_ends_with_the_tokens_it_has(host):
    started = threading.Event()
    host._on_event = lambda e: (host.events.append(e), isinstance(e, ev.TokensGenerated) and started.set())
    job = host.submit(rq.Generate("hi", SteeringPlan(), SamplingSettings(max_new_tokens=400, stop_at_eos=False)))
    assert started.wait(60)
    job.cancel()
    assert isinstance(job.wait(60), ev.JobFinished)
    (generated,) = _of(host, ev.Generated, job.id)
    assert generated.result.cancelled and len(generated.result.panes[0].token_ids) < 400


def test_the_newest_heatmap_supersedes_the_one_before(host):
    ids = tuple(host.engine.backend.encode_prompt("hello there", chat=False))
    blocker = host.submit(rq.Generate("hi", SteeringPlan(), SamplingSettings(max_new_tokens=20, stop_at_eos=False)))
    first = host.submit(rq.Heatmap("baseline", ids, 3, "L1"))
    second = host.submit(rq.Heatmap("baseline", ids, 3, "L1"))
    assert isinstance(first.wait(60), ev.JobCancelled)
    assert isinstance(second.wait(60), ev.JobFinished)
    assert isinstance(blocker.wait(60), ev.JobFinished)
    assert not _of(host, ev.HeatmapReady, first.id)


def test_a_session_record_goes_ahead_of_queued_analyses(host):
    ids = tuple(host.engine.backend.encode_prompt("hello there", chat=False))
    settings = SamplingSettings(max_new_tokens=20, stop_at_eos=False)
    started = threading.Event()
    host._on_event = lambda e: (host.events.append(e), isinstance(e, ev.TokensGenerated) and started.set())
    blocker = host.submit(rq.Generate("hi", SteeringPlan(), settings))
    assert started.wait(60)  # the generation runs: what comes next waits in the queue
    heatmap = host.submit(rq.Heatmap("baseline", ids, 3, "L1"))
    record = host.submit(rq.RecordSession("hi", SteeringPlan(), settings, chat=True))
    for job in (blocker, heatmap, record):
        assert isinstance(job.wait(60), ev.JobFinished)
    ends = [e.job for e in host.events if isinstance(e, ev.JobFinished)]
    assert ends == [blocker.id, record.id, heatmap.id]
    (recorded,) = _of(host, ev.SessionRecorded, record.id)
    assert recorded.session.prompt == "hi"
