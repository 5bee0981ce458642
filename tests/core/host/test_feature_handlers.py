"""The requests that tell features apart, through the in-process host on the tiny model: each answers with its
typed event, long ones report progress and can be cancelled, and bad input fails the job with one line."""

import pytest

from tests.factories import make_sae, tiny_backend
from workbench.engine import Engine
from workbench.host import InProcessHost
from workbench.jobs import events as ev
from workbench.jobs import feature_handlers
from workbench.jobs import requests as rq


@pytest.fixture
def host(tmp_path):
    feature_handlers._COACTIVATION.clear()  # the model process's memo: each test starts with an empty cache
    engine = Engine()
    engine._backend = tiny_backend()  # the tiny model, without a load from disk
    engine.add_sae(str(make_sae(tmp_path / "sae", d_in=64, layer=1)))
    events: list[ev.Event] = []
    host = InProcessHost(events.append, engine)
    host.events = events
    yield host
    host.shutdown()


def _of(host, kind, job):
    return [e for e in host.events if isinstance(e, kind) and e.job == job]


def _finished(job):
    end = job.wait(120)
    assert isinstance(end, ev.JobFinished), end
    return end


def test_neighbours_come_at_once_by_cosine_and_again_with_coactivation_when_asked(host):
    quick = host.submit(rq.Neighbours("L1", 3, top=5))
    _finished(quick)
    (first,) = _of(host, ev.NeighboursReady, quick.id)
    assert not first.coactivation and first.data.feature == 3
    assert all(n.jaccard is None for n in first.data.neighbours)
    cosines = [n.decoder_cosine for n in first.data.neighbours]
    assert cosines == sorted(cosines, reverse=True) and 3 not in [n.feature for n in first.data.neighbours]

    full = host.submit(rq.Neighbours("L1", 3, top=5, coactivation=True))
    _finished(full)
    sent = _of(host, ev.NeighboursReady, full.id)
    assert [e.coactivation for e in sent] == [False, True]  # cosines first, then the corpus pass
    assert all(n.jaccard is not None for n in sent[-1].data.neighbours)
    assert any(p.progress.total for p in _of(host, ev.ProgressMade, full.id))

    again = host.submit(rq.Neighbours("L1", 4, top=5))  # cached now: co-activation comes with the first answer
    _finished(again)
    (cached,) = _of(host, ev.NeighboursReady, again.id)
    assert cached.coactivation and cached.data.feature == 4


def test_a_cancelled_coactivation_pass_ends_cancelled(host):
    job = host.submit(rq.Neighbours("L1", 3, coactivation=True))
    job.cancel()
    assert isinstance(job.wait(120), ev.JobCancelled)


def test_a_minimal_pair_names_the_features_that_differ_at_the_differing_tokens(host):
    job = host.submit(rq.MinimalPair("L1", "the coffee was bitter", "the coffin was bitter", top=5))
    _finished(job)
    (ready,) = _of(host, ev.ContrastReady, job.id)
    assert ready.text_a == "the coffee was bitter" and not ready.contrast.sets
    assert ready.contrast.layer == 1 and ready.contrast.a_tokens != ready.contrast.b_tokens
    differences = [abs(f.difference) for f in ready.contrast.features]
    assert differences == sorted(differences, reverse=True)


def test_contrast_sets_read_two_files_and_report_progress(host, tmp_path):
    (tmp_path / "a.txt").write_text("the sea is deep\nwaves on the ocean\nsalt water and tides\n")
    (tmp_path / "b.txt").write_text("the cat sat\na red car\nbread and butter\n")
    job = host.submit(rq.ContrastSets("L1", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), top=4))
    _finished(job)
    (ready,) = _of(host, ev.ContrastReady, job.id)
    assert ready.contrast.sets and (ready.text_a, ready.text_b) == ("a.txt", "b.txt")
    assert all(f.auroc is not None for f in ready.contrast.features)
    assert any(p.progress.phase.startswith("contrast") for p in _of(host, ev.ProgressMade, job.id))
    missing = host.submit(rq.ContrastSets("L1", str(tmp_path / "none.txt"), str(tmp_path / "b.txt"))).wait(60)
    assert isinstance(missing, ev.JobFailed) and "none.txt" in missing.message and "\n" not in missing.message


def test_differential_steering_sends_the_two_by_two_table(host):
    job = host.submit(rq.Selectivity("L1", 3, "L1", 5, strength=8.0, max_new_tokens=4))
    _finished(job)
    (ready,) = _of(host, ev.SelectivityReady, job.id)
    assert [r.name for r in ready.result.rows] == ["baseline", "steer A", "steer B"]
    assert ready.result.feature_a.feature == 3 and ready.result.feature_b.feature == 5


def test_warnings_name_a_near_duplicate_in_another_loaded_sae(host, tmp_path):
    plain = host.submit(rq.FeatureWarnings("L1", 3))
    _finished(plain)
    assert _of(host, ev.FeatureWarningsReady, plain.id)[0].warnings == ()
    host.engine.add_sae(str(tmp_path / "sae"), "L1.copy")  # the same directions under a second key
    job = host.submit(rq.FeatureWarnings("L1", 3))
    _finished(job)
    (ready,) = _of(host, ev.FeatureWarningsReady, job.id)
    assert len(ready.warnings) == 1 and "near-duplicate" in ready.warnings[0] and "f3" in ready.warnings[0]


def test_labels_import_counts_skipped_rows_and_refreshes_the_search_index(host, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("feature,label\n3,harbour boats\n5,\n999,too far\nnot a row\n")
    job = host.submit(rq.ImportLabels(str(path), "L1"))
    _finished(job)
    (done,) = _of(host, ev.LabelsImported, job.id)
    assert (done.imported, done.skipped) == (1, 3) and "out of range" in done.summary
    (index,) = _of(host, ev.FeatureIndexReady, job.id)
    assert index.indexes[0].imported_label(3) == "harbour boats"
    card = host.submit(rq.Inspect("L1", 3))
    _finished(card)
    assert _of(host, ev.CardReady, card.id)[0].card.imported_label == "harbour boats"


def test_a_labels_file_for_another_model_is_refused_with_one_line(host, tmp_path):
    path = tmp_path / "np.json"
    path.write_text('[{"modelId": "gemma-2-2b", "layer": "1-res", "index": 3, "description": "x"}]')
    end = host.submit(rq.ImportLabels(str(path), "L1")).wait(60)
    assert isinstance(end, ev.JobFailed) and "gemma-2-2b" in end.message and "\n" not in end.message
