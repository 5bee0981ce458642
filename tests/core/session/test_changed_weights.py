"""A session recorded with other weights than today's says which changed, by hash (no model needed)."""

from dataclasses import replace

from tests.core.session.test_session_file import SHA, make_session
from workbench.saes.demo import demo_sae_folder
from workbench.session.record import changed_since, hash_differences

# The demo L15 SAE's digest before its retraining (recipe v2: k 32, robust FVE 0.75), as sessions saved then hold it.
L15_BEFORE_RETRAINING = "1d3913f78b377e73aebd4bf5f8576f1d820f3228fd519734c3776eb2e845abde"


def test_changed_since_names_each_changed_sae_and_the_model_with_both_digests():
    recorded = make_session()
    loaded = replace(
        recorded,
        model=replace(recorded.model, sha256="ef" * 32),
        saes=(replace(recorded.saes[0], sha256="cd" * 32),),
    )
    notes = changed_since(recorded, loaded)
    assert (
        notes[0] == f"the model changed since this session was recorded (sha256 now {'ef' * 6}…, recorded {SHA[:12]}…)"
    )
    assert notes[1].startswith(f"SAE L8 changed since this session was recorded (sha256 now {'cd' * 6}…, recorded ")
    assert "feature ids may name other features" in notes[1]


def test_unchanged_unhashed_or_unloaded_saes_give_no_note():
    recorded = make_session()
    assert changed_since(recorded, recorded) == []
    assert changed_since(recorded, replace(recorded, saes=())) == []  # not loaded (skipped, or still loading)
    unhashed = replace(recorded, saes=(replace(recorded.saes[0], sha256=None),))  # e.g. a registry SAE
    assert changed_since(unhashed, recorded) == [] and changed_since(recorded, unhashed) == []


def test_a_session_saved_with_the_old_demo_l15_sae_is_told_it_changed():
    session = make_session()
    old = replace(
        session.saes[0],
        key="L15",
        spec=str(demo_sae_folder(15)),
        layer=15,
        hook_name="model.layers.15",
        sha256=L15_BEFORE_RETRAINING,
    )
    notes = [n for n in hash_differences(replace(session, saes=(old,))) if n.startswith("SAE L15")]
    assert len(notes) == 1 and f"recorded {L15_BEFORE_RETRAINING[:12]}…" in notes[0]
