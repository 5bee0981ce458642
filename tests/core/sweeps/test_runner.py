"""Running a sweep on the tiny random Llama: rows, metrics read by the unsteered model, drift, resume, cancel."""

import dataclasses

import pytest

from workbench.cancel import CancelToken
from workbench.errors import InputError
from workbench.models.edits import EditMode
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import StrengthUnit
from workbench.sweeps.records import STEERED
from workbench.sweeps.runner import run_sweep
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget
from workbench.sweeps.store import RowStore
from workbench.sweeps.summary import Thresholds, summarise

PROMPTS = (SweepPrompt("The sea", chat=False), SweepPrompt("Hello there"))


def _spec(**changes):
    spec = SweepSpec(
        targets=(SweepTarget("1", 5),),
        strengths=(0.0, 4.0),
        prompts=PROMPTS,
        unit=StrengthUnit.RAW,
        seeds=(0, 1),
        max_new_tokens=6,
        sampling=SamplingSettings(temperature=1.0, top_p=1.0, stop_at_eos=False),
    )
    return dataclasses.replace(spec, **changes)


def test_every_cell_is_a_row_and_strength_zero_reads_like_the_baseline(sweep_engine):
    result = run_sweep(sweep_engine, _spec())
    assert len(result.rows) == 2 * 2 * 2 and len(result.baseline) == 2 * 2
    baseline = {(r.prompt, r.seed): r for r in result.baseline}
    for row in result.rows:
        assert row.kind == STEERED and row.target == "L1:5" and row.layer == 1 and row.cosine == 1.0
        base = baseline[(row.prompt, row.seed)]
        if row.strength == 0.0:
            assert row.token_ids == base.token_ids
            assert row.concept["L1:5"] == base.concept["L1:5"] and row.nll == base.nll
    assert any(r.token_ids != baseline[(r.prompt, r.seed)].token_ids for r in result.rows if r.strength == 4.0)
    drift = {d.strength: d.kl for d in result.drift}
    assert drift[0.0] == pytest.approx(0.0, abs=1e-9) and drift[4.0] > 0


def test_concept_and_nll_are_read_by_the_unsteered_model(sweep_engine):
    from workbench.sweeps.metrics import generated_nll

    result = run_sweep(sweep_engine, _spec(strengths=(4.0,), seeds=(0,), prompts=PROMPTS[:1]))
    row = result.rows[0]
    ids = [*row.prompt_ids, *row.token_ids]
    clean = sweep_engine.backend.forward(ids, capture=[1])
    assert row.nll == pytest.approx(generated_nll(clean.logits, ids, len(row.prompt_ids)), rel=1e-6)
    acts = sweep_engine.features(ids, ["L1"], top_k=1, features={"L1": [5]})["L1"].dense[len(row.prompt_ids) :, 0]
    assert row.concept["L1:5"] == pytest.approx(float(acts.mean()), rel=1e-5)  # no statistics: raw units
    assert row.fires["L1:5"] == pytest.approx(float((acts > 0).mean()))


def test_layers_all_steers_through_the_nearest_decoder_direction_at_every_sae(sweep_engine):
    from workbench.analysis.feature_layers import match_across

    result = run_sweep(sweep_engine, _spec(layers="all", seeds=(0,), prompts=PROMPTS[:1]))
    (_, own, _), (_, other, cosine) = match_across(sweep_engine.saes, "L1", 5)
    assert {(r.sae, r.feature) for r in result.rows} == {("L1", own), ("L2", other)}
    assert all(r.cosine == pytest.approx(cosine, abs=1e-6) for r in result.rows if r.sae == "L2")
    # Concept is always read at the target's own SAE, whichever layer was steered.
    assert all(set(r.concept) == {"L1:5"} for r in result.rows)


def test_a_rerun_into_the_same_store_skips_finished_rows(sweep_engine, tmp_path):
    first = run_sweep(sweep_engine, _spec(), store=RowStore(tmp_path), batch_size=1)
    seen = []
    again = run_sweep(sweep_engine, _spec(), store=RowStore(tmp_path), batch_size=1, on_row=seen.append)
    assert seen == [] and again.reused == 12
    assert again.rows == first.rows and again.drift == first.drift
    # One more strength: only its rows are generated.
    more = run_sweep(sweep_engine, _spec(strengths=(0.0, 4.0, 8.0)), store=RowStore(tmp_path), on_row=seen.append)
    assert len(seen) == 4 and {r.strength for r in seen} == {8.0} and more.reused == 12


def test_a_cancel_mid_token_keeps_every_finished_row_and_a_rerun_resumes(sweep_engine, tmp_path):
    cancel = CancelToken()
    ticks = []

    def progress(p):
        ticks.append(p)
        if p.done > 6 * 3 + 2:  # inside the second batch (3 rows × 6 tokens per batch)
            cancel.cancel()

    spec = _spec()
    partial = run_sweep(sweep_engine, spec, store=RowStore(tmp_path), batch_size=3, progress=progress, cancel=cancel)
    assert partial.cancelled and len(partial.rows) + len(partial.baseline) == 3
    assert ticks[-1].eta_s is not None
    stored = RowStore(tmp_path).rows
    assert len(stored) == 3
    seen = []
    resumed = run_sweep(sweep_engine, spec, store=RowStore(tmp_path), batch_size=3, on_row=seen.append)
    assert resumed.reused == 3 and len(seen) == 9 and not resumed.cancelled
    assert len(resumed.rows) == 8 and len(resumed.drift) == 2


def test_a_line_cut_by_a_kill_is_ignored_and_the_next_row_starts_a_new_line(sweep_engine, tmp_path):
    run_sweep(sweep_engine, _spec(prompts=PROMPTS[:1], seeds=(0,)), store=RowStore(tmp_path))
    path = tmp_path / "rows.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1]) + "\n" + lines[1][:40])  # killed while writing the second row
    seen = []
    run_sweep(sweep_engine, _spec(prompts=PROMPTS[:1], seeds=(0,)), store=RowStore(tmp_path), on_row=seen.append)
    assert len(seen) == 2  # the cut row and the one after it
    assert len(RowStore(tmp_path).rows) == 3


def test_clamp_on_a_backend_that_cannot_clamp_is_refused_before_any_work(sweep_engine):
    backend = sweep_engine.backend
    saved = backend.capabilities
    backend.capabilities = dataclasses.replace(saved, modes=frozenset({EditMode.ADD}))
    try:
        with pytest.raises(InputError, match="cannot clamp"):
            run_sweep(sweep_engine, _spec(mode=EditMode.CLAMP))
    finally:
        backend.capabilities = saved


def test_clamp_sweeps_run_and_an_unknown_feature_is_one_line(sweep_engine):
    result = run_sweep(sweep_engine, _spec(mode=EditMode.CLAMP, seeds=(0,), prompts=PROMPTS[:1]))
    assert len(result.rows) == 2
    with pytest.raises(InputError, match="unknown feature L1:999"):
        run_sweep(sweep_engine, _spec(targets=(SweepTarget("L1", 999),)))
    with pytest.raises(InputError, match="no SAE '7' is loaded"):
        run_sweep(sweep_engine, _spec(targets=(SweepTarget("7", 1),)))


def test_summaries_reliability_steerability_and_the_best_setting(sweep_engine):
    result = run_sweep(sweep_engine, _spec(strengths=(0.0, 2.0, 6.0)))
    summary = summarise(result, Thresholds(reliability_margin=0.0, max_nll_increase=100.0))
    zero = next(c for c in summary.cells if c.strength == 0.0)
    assert zero.reliability == 0.0  # equal to the baseline never beats it
    assert zero.n == 4 and zero.concept_ci is not None
    assert zero.concept_mean == pytest.approx(summary.baseline["concept"]["L1:5"]["concept_mean"])
    assert {p.prompt for p in summary.prompts} == {"The sea", "Hello there"}
    for p in summary.prompts:
        assert p.anti_steerable == (p.steerability <= 0)
    best = max(summary.cells, key=lambda c: c.concept_mean)
    assert summary.best["strength"] == best.strength
    strict = summarise(result, Thresholds(max_nll_increase=-1000.0))
    assert strict.best is None and strict.thresholds.max_nll_increase == -1000.0
