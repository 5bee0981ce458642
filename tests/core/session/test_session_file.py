"""Session files: round trip, validation, migrations, the loader under fuzzing, and atomic writes under crashes.

No model is loaded here: sessions are built by hand (`make_session`, also used by the session CLI tests).
"""

import copy
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.models.sampling import MAX_SEED, SamplingSettings
from workbench.saes.demo import demo_sae_folder
from workbench.session import (
    SCHEMA_VERSION,
    EditOutcome,
    Environment,
    ModelRecord,
    PaneOutput,
    SaeRecord,
    Session,
    SessionError,
    autosave,
    clear_autosave,
    load_session,
    missing_files,
    pending_autosave,
    save_session,
)
from workbench.session.migrations import MIGRATIONS, migrate
from workbench.session.schema import session_to_dict
from workbench.steering.plan import (
    MAX_STRENGTH,
    EditMode,
    FeatureEdit,
    PositionScope,
    SteeringPlan,
    StrengthUnit,
    Variant,
)

ROOT = Path(__file__).resolve().parents[3]
SHA = "ab" * 32


def make_session(sae_folder: str | None = None, generated: bool = True) -> Session:
    """A complete session for the embedded model and the demo L8 SAE, with outputs; no model needed."""
    plan = SteeringPlan.with_baseline(
        Variant("ocean", (FeatureEdit(layer=8, feature=100, strength=4.0, unit=StrengthUnit.MAXACT),)),
        Variant(
            "mixed",
            (
                FeatureEdit(layer=8, feature=5, strength=3.0, mode=EditMode.CLAMP, positions=PositionScope.GENERATED),
                FeatureEdit(layer=8, feature=7, mode=EditMode.ABLATE, enabled=False, sae="L8"),
                FeatureEdit(layer=12, vector=tuple(float(i % 7) / 7 for i in range(576)), strength=0.5),
            ),
        ),
    )
    outputs = (
        PaneOutput("baseline", (504, 3426, 314), "The sea is", "length"),
        PaneOutput(
            "ocean",
            (504, 3426, 253),
            "The sea a",
            "length",
            (EditOutcome("L8:f100 add 4 maxact", 62.3, 45, 15.6, 133.7),),
        ),
        PaneOutput(
            "mixed",
            (1, 2),
            "ab",
            "eos",
            (EditOutcome("L8:f5 clamp 3 raw @generated", 3.0, 3), EditOutcome("L12:vec[576] add 0.5 raw", 0.5, 38)),
        ),
    )
    return Session(
        model=ModelRecord("default", "embedded", "SmolLM2-135M-Instruct", "llama", 30, 576, 49152, sha256=SHA),
        saes=(SaeRecord("L8", sae_folder or str(demo_sae_folder(8)), "folder", 8, 4608, "model.layers.8", SHA),),
        prompt='Tell me about the sea.\nIn two words — «ünïcode» "quoted" [1, 2]',
        chat=True,
        settings=SamplingSettings(seed=5, temperature=0.8, max_new_tokens=3),
        plan=plan,
        environment=Environment("cpu", "float32", {"steering-workbench": "0.1.0", "torch": "2.13.0+cpu"}),
        prompt_ids=(1, 9690, 198) if generated else (),
        outputs=outputs if generated else (),
        analysis={"heatmap_pane": "ocean", "heatmap_layer": 8, "selected_feature": 100, "tabs": ["a", 1, None]},
        created="2026-01-02T03:04:05+00:00",
    )


# -- round trip ---------------------------------------------------------------------------------------------
def test_save_then_load_gives_the_identical_session(tmp_path):
    session = make_session()
    path = save_session(tmp_path / "s.swsession", session)
    assert load_session(path) == session
    assert Session.from_json(session.to_json()) == session


def test_a_session_crosses_a_process_boundary():
    session = make_session()
    assert pickle.loads(pickle.dumps(session)) == session  # the window gets it from the model process


def test_a_session_before_generation_round_trips_too(tmp_path):
    session = make_session(generated=False)
    assert load_session(save_session(tmp_path / "s.json", session)) == session


def test_the_file_is_plain_json_with_a_schema_version_and_no_class_paths(tmp_path):
    path = save_session(tmp_path / "s.json", make_session())
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION == 2 and data["format"] == "steering-workbench-session"
    assert "workbench." not in text and "__" not in text
    assert '"token_ids": [504, 3426, 253]' in text  # lists of numbers stay on one line
    assert "«ünïcode»" in text  # readable, not \\u-escaped


def test_helpers_return_changed_copies():
    session = make_session()
    moved = session.with_sae_spec("L8", "/elsewhere/L8").with_model_spec("/models/smol.gguf")
    assert moved.sae("L8").spec == "/elsewhere/L8" and moved.model.spec == "/models/smol.gguf"
    assert session.sae("L8").spec != "/elsewhere/L8"
    assert session.with_analysis(heatmap_layer=15, tabs=None).analysis == {
        "heatmap_pane": "ocean",
        "heatmap_layer": 15,
        "selected_feature": 100,
    }
    assert session.output("ocean").token_ids == (504, 3426, 253)
    with pytest.raises(SessionError, match="no pane named 'nope'"):
        session.output("nope")


def test_a_fresh_record_keeps_a_recordings_provenance_for_its_outputs():
    recording = make_session()
    other_sae = SaeRecord("L8", "/moved/L8", "folder", 8, 4608, "model.layers.8", "c" * 64)
    added = SaeRecord("L15", "/saes/L15", "folder", 15, 4608, "model.layers.15", "d" * 64)
    fresh = replace(
        make_session(generated=False),
        model=replace(recording.model, sha256="b" * 64),
        environment=Environment("cuda", "bfloat16", {"torch": "2.13.0"}),
        saes=(recording.saes[0], added),
        prompt="changed since",
    )
    kept = fresh.with_provenance_of(recording)
    assert (kept.environment, kept.outputs, kept.prompt_ids) == (
        recording.environment,
        recording.outputs,
        recording.prompt_ids,
    )
    assert kept.model == recording.model and kept.saes == (recording.saes[0], added)  # recorded hashes kept
    assert kept.prompt == "changed since"  # the inputs are the editor's, not the provenance's
    located = replace(fresh, model=replace(fresh.model, spec="/models/smol.gguf"), saes=(other_sae,))
    moved = located.with_provenance_of(recording)
    assert moved.model == located.model and moved.saes == (other_sae,)  # another file: today's record


def test_a_session_that_would_not_load_again_is_refused_before_writing(tmp_path):
    path = save_session(tmp_path / "s.json", make_session())
    before = path.read_bytes()
    bad = replace(make_session(), outputs=make_session().outputs[:2])  # 2 panes for 3 variants
    with pytest.raises(SessionError, match="2 panes for 3 variants"):
        save_session(path, bad)
    assert path.read_bytes() == before


# -- validation: one readable line naming the field ---------------------------------------------------------------
def _mutated(change):
    data = session_to_dict(make_session())
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["model"].pop("n_layers"), "model.n_layers: missing"),
        (
            lambda d: d["variants"][1]["edits"][0].update(layer=30),
            r"variants\[1\].edits\[0\].layer: 30 is out of range",
        ),
        (
            lambda d: d["variants"][1]["edits"][0].update(feature=4608),
            "feature 4608 does not exist|4608 does not exist",
        ),
        (lambda d: d["variants"][1]["edits"][0].update(mode="boost"), "'boost' is not one of add, clamp, ablate"),
        (lambda d: d["variants"][2]["edits"][2]["vector"].pop(), "a raw vector needs 576 values"),
        (lambda d: d["variants"][2]["edits"][1].update(sae="L9"), "names SAE 'L9'"),
        (lambda d: d["sampling"].update(top_p=0), "sampling: top-p must be in"),
        (lambda d: d["sampling"].update(seed=True), "sampling.seed: expected an integer"),
        (lambda d: d["sampling"].update(seed=2**40), "sampling: seed must be between 0 and 2147483647"),
        (lambda d: d["outputs"][1].update(name="other"), "does not match variant 'ocean'"),
        (lambda d: d["outputs"][1]["token_ids"].append(49152), "49152 is out of range"),
        (lambda d: d["outputs"][1]["edits"].clear(), "0 outcomes for 1 enabled edits"),
        (lambda d: d["analysis"].update(x={"nested": 1}), "analysis.x: expected text, a number"),
        (lambda d: d["model"].update(sha256="xyz"), "model.sha256: expected a sha256"),
        (lambda d: d.update(variants=[]), "at least one variant"),
        (lambda d: d["prompt"].update(text="\ud800"), "prompt.text: holds an unpaired surrogate"),
        (lambda d: d["analysis"].update(heatmap_layer="8"), "analysis.heatmap_layer: expected an integer"),
    ],
)
def test_invalid_fields_are_named_in_one_line(change, message):
    with pytest.raises(SessionError, match=message) as info:
        Session.from_json(_mutated(change))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "steering-workbench-session", "schema_version": 2, "mod', "truncated"),
        ('{"format": "steering-workbench-session",, }', "corrupt"),
        ('{"name": "some other tool", "version": 3}', "not a Steering Workbench session"),
        ("[1, 2, 3]", "not a Steering Workbench session"),
        ('{"format": "steering-workbench-session", "schema_version": 0}', "unknown session schema version 0"),
        ('{"format": "steering-workbench-session", "schema_version": "2"}', "unknown session schema version '2'"),
        ('{"format": "steering-workbench-session", "schema_version": 2, "x": NaN}', "NaN"),
        ("[" * 100_000, "corrupt|truncated"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.swsession"
    path.write_text(text)
    with pytest.raises(SessionError, match=message) as info:
        load_session(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_binary_empty_missing_and_folder_paths_are_clear_errors(tmp_path):
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "empty").write_bytes(b"  \n")
    for name, message in [("bin", "not UTF-8"), ("empty", "empty"), ("nope", "not found"), (".", "is a folder")]:
        with pytest.raises(SessionError, match=message):
            load_session(tmp_path / name)


# -- migrations ---------------------------------------------------------------------------------------------------
V1_FILE = {
    "format": "steering-workbench-session",
    "schema_version": 1,
    "created": "2025-12-01T10:00:00+00:00",
    "environment": {"device": "cpu", "dtype": "float32", "versions": {"steering-workbench": "0.0.9"}},
    "model": {
        "spec": "default",
        "source": "embedded",
        "name": "SmolLM2-135M-Instruct",
        "architecture": "llama",
        "n_layers": 30,
        "d_model": 576,
        "vocab_size": 49152,
        "sha256": None,
        "revision": None,
    },
    "saes": [],
    "prompt": "Hello there",
    "chat": False,
    "prompt_token_ids": [1, 2, 3],
    "sampling": {
        "seed": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": 0,
        "repetition_penalty": 1.0,
        "max_new_tokens": 4,
        "stop_at_eos": True,
    },
    "variants": [
        {"name": "baseline", "edits": []},
        {
            "name": "push",
            "edits": [
                {
                    "layer": 3,
                    "feature": None,
                    "vector": [0.5] * 576,
                    "strength": 2.0,
                    "mode": "add",
                    "unit": "raw",
                    "positions": "all",
                    "enabled": True,
                    "sae": None,
                }
            ],
        },
    ],
    "outputs": [
        {"name": "baseline", "token_ids": [7, 8], "text": "ab", "finish_reason": "eos", "edits_fired": []},
        {
            "name": "push",
            "token_ids": [9],
            "text": "c",
            "finish_reason": "eos",
            "edits_fired": [{"edit": "L3:vec[576] add 2 raw", "raw_strength": 2.0, "positions": 4}],
        },
    ],
    "analysis": {},
}


def test_a_schema_1_file_is_migrated_on_load(tmp_path):
    path = tmp_path / "old.swsession"
    path.write_text(json.dumps(V1_FILE))
    session = load_session(path)
    assert (session.prompt, session.chat, session.prompt_ids) == ("Hello there", False, (1, 2, 3))
    outcome = session.output("push").edits[0]
    assert outcome == EditOutcome("L3:vec[576] add 2 raw", 2.0, 4, None, None)  # v1 did not record unit scales
    assert session.plan.variants[1].edits[0].vector == (0.5,) * 576
    assert json.loads(path.read_text()) == V1_FILE  # loading never rewrites the file
    # Saving writes the current schema, which loads to the same session.
    assert load_session(save_session(tmp_path / "new.swsession", session)) == session


def test_every_schema_has_a_step_to_the_next():
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))
    assert migrate(copy.deepcopy(V1_FILE))["schema_version"] == SCHEMA_VERSION


def test_a_file_from_a_newer_version_says_so(tmp_path):
    data = {**session_to_dict(make_session()), "schema_version": SCHEMA_VERSION + 1}
    data["environment"]["versions"]["steering-workbench"] = "9.0"
    path = tmp_path / "future.swsession"
    path.write_text(json.dumps(data))
    with pytest.raises(SessionError, match=r"made by a newer version of Steering Workbench 9\.0 .*update"):
        load_session(path)


# -- fuzzing: the loader raises nothing but SessionError ------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _load_or_session_error(text):
    try:
        Session.from_json(text)
    except SessionError as exc:
        assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    _load_or_session_error(data)


@FUZZ
@given(JSON)
def test_fuzz_random_json(value):
    _load_or_session_error(json.dumps(value))
    _load_or_session_error(json.dumps({"format": "steering-workbench-session", "schema_version": 1, "x": value}))


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, (*prefix, i))


VALID = session_to_dict(make_session())
VALID_V1 = copy.deepcopy(V1_FILE)
PATHS = [p for p in _paths(VALID) if p]
PATHS_V1 = [p for p in _paths(VALID_V1) if p]


def _replace_at(data, path, value, delete):
    target = data
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value


@FUZZ
@given(st.data(), JSON, st.booleans(), st.booleans())
def test_fuzz_one_field_of_a_valid_file_replaced_or_removed(data, value, delete, old):
    doc = copy.deepcopy(VALID_V1 if old else VALID)
    path = data.draw(st.sampled_from(PATHS_V1 if old else PATHS))
    _replace_at(doc, path, value, delete)
    _load_or_session_error(json.dumps(doc))


@FUZZ
@given(st.integers(min_value=0, max_value=len(json.dumps(VALID)) - 1), st.binary(min_size=1, max_size=8))
def test_fuzz_truncated_or_overwritten_bytes(cut, junk):
    text = json.dumps(VALID).encode()
    _load_or_session_error(text[:cut])
    _load_or_session_error(text[:cut] + junk + text[cut + len(junk) :])


@settings(max_examples=60, deadline=None, database=None)
@given(
    prompt=st.text(max_size=40),
    names=st.lists(st.text(max_size=10), min_size=1, max_size=3),
    strength=st.floats(min_value=-MAX_STRENGTH, max_value=MAX_STRENGTH, width=32),
    seed=st.integers(0, MAX_SEED),
    analysis=st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.one_of(st.integers(), st.text(max_size=10), st.booleans(), st.lists(st.integers(), max_size=3)),
        max_size=4,
    ),
)
def test_round_trip_of_generated_sessions(prompt, names, strength, seed, analysis):
    edits = (FeatureEdit(layer=8, feature=1, strength=strength),)
    session = replace(
        make_session(generated=False),
        prompt=prompt,
        plan=SteeringPlan(tuple(Variant(n, edits) for n in names)),
        settings=SamplingSettings(seed=seed),
        analysis=analysis,
    )
    assert Session.from_json(session.to_json()) == session


# -- atomic writes: a crash mid-write never replaces a good file -----------------------------------------------------
def _no_temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("fail", ["replace", "fsync", "interrupt"])
def test_a_failed_write_leaves_the_previous_file_and_no_temp_file(tmp_path, monkeypatch, fail):
    path = save_session(tmp_path / "s.swsession", make_session())
    before = path.read_bytes()
    changed = replace(make_session(), prompt="a different prompt")

    def boom(*_args, **_kwargs):
        if fail == "interrupt":
            raise KeyboardInterrupt
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail if fail != "interrupt" else "fsync", boom)
    expected = KeyboardInterrupt if fail == "interrupt" else SessionError
    with pytest.raises(expected):
        save_session(path, changed)
    monkeypatch.undo()
    assert path.read_bytes() == before and load_session(path) == make_session()
    assert _no_temp_files(tmp_path)


def test_a_process_killed_while_saving_leaves_a_loadable_file(tmp_path):
    path = save_session(tmp_path / "s.swsession", make_session())
    # A child rewrites the file in a loop with large sessions; SIGKILL lands somewhere inside a write.
    code = (
        "import sys; from dataclasses import replace\n"
        "from tests.core.session.test_session_file import make_session\n"
        "from workbench.session import save_session\n"
        "big = replace(make_session(), prompt='x' * 2_000_000)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    save_session(sys.argv[1], big)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    loaded = load_session(path)  # whichever version it is, it is whole
    assert loaded.prompt in (make_session().prompt, "x" * 2_000_000)


def test_writing_into_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SessionError, match="does not exist"):
        save_session(tmp_path / "no" / "s.swsession", make_session())


# -- autosave and missing files ------------------------------------------------------------------------------------
def test_autosave_slot_for_crash_recovery():
    assert pending_autosave() is None
    path = autosave(make_session())
    assert pending_autosave() == path and load_session(path) == make_session()
    clear_autosave()
    assert pending_autosave() is None


def test_missing_files_lists_what_to_locate(tmp_path):
    assert missing_files(make_session()) == []
    session = make_session(sae_folder=str(tmp_path / "gone")).with_model_spec(str(tmp_path / "moved.gguf"))
    session = replace(session, model=replace(session.model, source="gguf"))
    missing = missing_files(session)
    assert [(m.kind, m.key) for m in missing] == [("model", "model"), ("sae", "L8")]
    assert "moved.gguf" in missing[0].message and "gone" in missing[1].message
