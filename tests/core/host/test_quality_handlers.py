"""The SAE-quality job through the in-process host on the tiny model: progress per text, the same figures as a
direct call of measure_sae_quality, cancel ends it cancelled, and a bad text file fails it with one line."""

import numpy as np
import pytest

from tests.factories import make_sae, tiny_backend
from workbench.analysis.sae_quality import measure_sae_quality
from workbench.engine import Engine
from workbench.host import InProcessHost
from workbench.jobs import events as ev
from workbench.jobs import requests as rq

TEXTS = ["the tide came in over the sand", "boats rocked gently in the harbour", "gulls over the pier at dawn"]


class Host:
    """An in-process host on the tiny model and a random SAE at layer 1; `cancel_at` (a text count) cancels the
    job from its own progress event, i.e. between two texts."""

    def __init__(self, folder):
        engine = Engine()
        engine._backend = tiny_backend()  # the tiny model, without a load from disk
        engine.add_sae(str(make_sae(folder / "sae", d_in=64, layer=1)))
        self.events: list[ev.Event] = []
        self.cancel_at: int | None = None
        self.host = InProcessHost(self._seen, engine)

    def _seen(self, event):
        self.events.append(event)
        p = event.progress if isinstance(event, ev.ProgressMade) else None
        if p is not None and p.total and p.done == self.cancel_at:
            self.host._cancel(event.job)  # what JobHandle.cancel sends, from the model thread itself

    def of(self, kind, job):
        return [e for e in self.events if isinstance(e, kind) and e.job == job.id]


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path)
    yield h
    h.host.shutdown()


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("\n".join(TEXTS) + "\n")
    return path


def test_the_job_reports_progress_per_text_and_the_figures_of_a_direct_call(host, text_file):
    job = host.host.submit(rq.SaeQuality("L1", str(text_file), max_texts=2))
    assert isinstance(job.wait(120), ev.JobFinished)
    (ready,) = host.of(ev.SaeQualityReady, job)
    assert ready.sae_key == "L1" and ready.report.text == "mine.txt" and ready.report.metrics.n_texts == 2
    counted = [e.progress.done for e in host.of(ev.ProgressMade, job) if e.progress.total == 2]
    assert counted[:2] == [1, 2]  # one step per text, of the two asked for
    assert host.of(ev.ProgressMade, job)[-1].progress.phase == "ready"

    direct = measure_sae_quality(host.host.engine, "L1", TEXTS, "mine.txt", max_texts=2)
    assert ready.report.as_dict() == direct.as_dict()
    np.testing.assert_array_equal(ready.report.feature_density, direct.feature_density)


def test_a_cancelled_quality_job_ends_cancelled_without_a_report(host, text_file):
    job = host.host.submit(rq.SaeQuality("L1", str(text_file), max_texts=3))
    job.cancel()
    assert isinstance(job.wait(120), ev.JobCancelled)
    assert not host.of(ev.SaeQualityReady, job)


def test_a_cancel_between_texts_stops_it_before_the_last_text(host, text_file):
    host.cancel_at = 1
    job = host.host.submit(rq.SaeQuality("L1", str(text_file), max_texts=3))
    assert isinstance(job.wait(120), ev.JobCancelled)
    done = [e.progress.done for e in host.of(ev.ProgressMade, job) if e.progress.total == 3]
    assert 1 in done and 3 not in done and not host.of(ev.SaeQualityReady, job)


def test_a_missing_text_file_fails_the_job_with_one_line(host, tmp_path):
    job = host.host.submit(rq.SaeQuality("L1", str(tmp_path / "nowhere.txt")))
    end = job.wait(120)
    assert isinstance(end, ev.JobFailed) and "\n" not in end.message and "nowhere.txt" in end.message


def test_the_shipped_corpus_is_the_default_source(host):
    job = host.host.submit(rq.SaeQuality("L1", max_texts=1, max_tokens=16))
    assert isinstance(job.wait(120), ev.JobFinished)
    (ready,) = host.of(ev.SaeQualityReady, job)
    assert ready.report.text == "demo held-out corpus" and ready.report.metrics.n_texts == 1
