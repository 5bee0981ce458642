"""Integration: record a session on the real embedded SmolLM2 with the demo SAE, save it, reopen it, replay it."""

import contextlib
import functools
import hashlib
from dataclasses import replace

import pytest

from workbench.models.sampling import SamplingSettings
from workbench.models.spec import embedded_gguf_path
from workbench.saes.demo import demo_sae_folder
from workbench.session import Session, SessionError, load_session, record_session, save_session
from workbench.session.replay import check_model_fits, plan_for_saes, replay_session
from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, SteeringPlan, StrengthUnit, Variant

pytestmark = pytest.mark.integration

PROMPT = "Tell me about your weekend."
OCEAN = Variant("ocean", (FeatureEdit(layer=8, feature=100, strength=4.0, unit=StrengthUnit.MAXACT),))
MIXED = Variant(
    "mixed",
    (
        FeatureEdit(layer=8, feature=100, strength=2.0, unit=StrengthUnit.MAXACT, positions=PositionScope.PROMPT),
        FeatureEdit(layer=8, feature=221, strength=6.0, mode=EditMode.CLAMP, positions=PositionScope.GENERATED),
    ),
)
PLAN = SteeringPlan.with_baseline(OCEAN, MIXED)
SAMPLED = SamplingSettings(seed=11, temperature=0.8, max_new_tokens=8)


@contextlib.contextmanager
def demo_sae_loaded(engine):
    """The shared engine with only the demo L8 SAE, restored afterwards (other modules load their own SAEs)."""
    saved = engine.saes
    engine.saes = []
    try:
        engine.add_sae(str(demo_sae_folder(8)))
        yield engine
    finally:
        engine.saes = saved


@functools.cache
def _recorded(engine) -> Session:
    result = engine.generate(PROMPT, PLAN, SAMPLED).run()
    return record_session(engine, PROMPT, PLAN, SAMPLED, True, result, analysis={"heatmap_layer": 8})


def recorded_session(engine) -> Session:
    """The demo session, generated once per test run (the export tests use it too)."""
    return _recorded(engine)


@pytest.fixture(scope="module")
def engine(smollm_engine):
    with demo_sae_loaded(smollm_engine) as engine:
        yield engine


@pytest.fixture(scope="module")
def recorded(engine):
    return recorded_session(engine)


def test_the_record_holds_hashes_units_versions_and_outputs(recorded):
    assert recorded.model.spec == "default" and recorded.model.source == "embedded"
    assert recorded.model.sha256 == hashlib.sha256(embedded_gguf_path().read_bytes()).hexdigest()
    assert [s.key for s in recorded.saes] == ["L8"] and len(recorded.saes[0].sha256 or "") == 64
    assert {"steering-workbench", "python", "torch", "transformers", "sae-lens"} <= set(recorded.environment.versions)
    assert (recorded.environment.device, recorded.environment.dtype) == ("cpu", "float32")
    assert [p.name for p in recorded.outputs] == ["baseline", "ocean", "mixed"]
    assert all(1 <= len(p.token_ids) <= 8 for p in recorded.outputs)
    ocean = recorded.output("ocean").edits[0]
    assert ocean.raw_strength == pytest.approx(4 * ocean.maxact_scale) and ocean.resid_scale > 0
    assert ocean.positions > 0
    assert recorded.analysis == {"heatmap_layer": 8}


def test_save_open_gives_the_identical_state(recorded, tmp_path):
    path = save_session(tmp_path / "weekend.swsession", recorded)
    assert load_session(path) == recorded


def test_replay_is_identical_and_a_changed_recording_shows_where_it_differs(engine, recorded, tmp_path):
    # One replay run checks both: the untouched panes come out identical, the tampered one is caught.
    ocean = recorded.output("ocean")
    tampered_ids = (*ocean.token_ids[:3], (ocean.token_ids[3] + 1) % 49152, *ocean.token_ids[4:])
    outputs = tuple(
        replace(p, token_ids=tampered_ids, text="tampered") if p.name == "ocean" else p for p in recorded.outputs
    )
    env = replace(recorded.environment, versions={**recorded.environment.versions, "torch": "1.0.0"})
    session = load_session(save_session(tmp_path / "s.swsession", replace(recorded, outputs=outputs, environment=env)))

    report = replay_session(engine, session)

    baseline, changed, mixed = report.panes
    assert baseline.identical and mixed.identical and report.prompt_identical
    assert not changed.identical and changed.first_difference == 3 and not report.all_identical
    record = report.to_dict()
    assert record["panes"][1] == {
        "name": "ocean",
        "identical": False,
        "first_difference": 3,
        "recorded_tokens": len(tampered_ids),
        "replayed_tokens": len(ocean.token_ids),
        "recorded_text": "tampered",
        "replayed_text": ocean.text,
    }
    assert "recorded_text" not in record["panes"][0]
    assert record["notes"] == [
        f"torch differs: recorded with 1.0.0, replayed with {recorded.environment.versions['torch']}"
    ]


def test_recorded_sae_keys_are_mapped_to_the_loaded_ones(engine, recorded):
    renamed = replace(
        recorded,
        saes=(replace(recorded.saes[0], key="mine"),),
        plan=SteeringPlan((Variant("v", (FeatureEdit(layer=8, feature=1, strength=1.0, sae="mine"),)),)),
        outputs=(),
    )
    assert plan_for_saes(renamed, engine.saes).variants[0].edits[0].sae == "L8"


def test_a_session_for_another_model_shape_is_refused(engine, recorded):
    other = replace(recorded, model=replace(recorded.model, n_layers=12))
    with pytest.raises(SessionError, match="is not the session's"):
        check_model_fits(other, engine)
    with pytest.raises(SessionError, match="nothing to replay"):
        replay_session(engine, replace(recorded, outputs=()))


def test_panes_compare_token_by_token_and_summarise_in_one_line():
    from workbench.models.generation import PaneResult
    from workbench.session import PaneOutput
    from workbench.session.replay import compare_panes, summarise_panes

    recorded = (PaneOutput("baseline", (1, 2, 3), "a", "length"), PaneOutput("sea", (4, 5, 6), "b", "length"))
    same = [
        PaneResult("baseline", (1, 2, 3), "a", "length", (), 1.0),
        PaneResult("sea", (4, 5, 6), "b", "length", (), 1.0),
    ]
    assert summarise_panes(compare_panes(recorded, same)) == "same tokens as the recording in all 2 panes"
    other = [same[0], PaneResult("sea", (4, 5), "b", "eos", (), 1.0)]  # one token short: differs at index 2
    panes = compare_panes(recorded, other)
    assert [p.identical for p in panes] == [True, False] and panes[1].first_difference == 2
    assert summarise_panes(panes) == "1 of 2 panes differ from the recording: 'sea' from token 2"
    with pytest.raises(ValueError):
        compare_panes(recorded, same[:1])  # a run of another plan is no replay
