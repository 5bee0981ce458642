"""The batched measurement pass reads every row as a forward of that row alone would: NLL, concept and fires."""

import pytest

from workbench.saes.activations import encode_activations
from workbench.sweeps.measure import ConceptProbe, measure_rows
from workbench.sweeps.metrics import concept, generated_nll


def test_rows_of_different_lengths_measure_as_each_row_alone(sweep_engine):
    backend = sweep_engine.backend
    sae1, sae2 = sweep_engine.sae("L1"), sweep_engine.sae("L2")
    probes = [ConceptProbe("a", sae1, 5, 2.0), ConceptProbe("b", sae2, 7, 1.0), ConceptProbe("c", sae1, 9, 1.0)]
    prompt = backend.encode_prompt("The sea", chat=False)
    rows = [([5, 9, 14, 3, 3, 8], probes), ([7], probes[:1]), ([], probes[1:]), ([5, 9, 14, 3, 3, 8], probes[2:])]
    measured = measure_rows(backend, prompt, rows)
    assert measured[2].nll is None and measured[2].concept == {"b": 0.0, "c": 0.0}
    for (tokens, row_probes), m in zip(rows, measured, strict=True):
        assert set(m.concept) == {p.name for p in row_probes}
        if not tokens:
            continue
        ids = [*prompt, *tokens]
        alone = backend.forward(ids, capture=[1, 2])
        assert m.nll == pytest.approx(generated_nll(alone.logits, ids, len(prompt)), rel=1e-6, abs=1e-6)
        for p in row_probes:
            acts = encode_activations([p.sae], alone.residuals, ids, (), top_k=1, features={p.sae.key: [p.feature]})
            want = concept(acts[p.sae.key].dense[len(prompt) :, 0], p.scale)
            assert m.concept[p.name] == pytest.approx(want[0], rel=1e-5, abs=1e-6)
            assert m.fires[p.name] == want[1]
    assert measured[0].concept["c"] == measured[3].concept["c"]  # the same tokens are read once
