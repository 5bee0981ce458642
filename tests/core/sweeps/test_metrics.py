"""Every sweep formula against a direct computation on hand-made numbers."""

import math

import numpy as np
import pytest

from workbench.sweeps.metrics import (
    concept,
    distinct_n,
    generated_nll,
    kl_divergence,
    log_softmax,
    longest_repeat,
    mean_ci,
    perplexity,
    slope,
)


def test_nll_of_the_generated_tokens_is_computed_from_the_logits_by_hand():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)).astype(np.float32)
    ids = [0, 3, 1, 4, 2, 2]  # prompt of 2 tokens, 4 generated
    by_hand = []
    for t in range(2, 6):  # token t is predicted at position t - 1
        row = logits[t - 1].astype(np.float64)
        by_hand.append(-(row[ids[t]] - math.log(np.exp(row).sum())))
    assert generated_nll(logits, ids, prompt_len=2) == pytest.approx(sum(by_hand) / 4, rel=1e-9)
    assert perplexity(1.0) == pytest.approx(math.e)
    assert generated_nll(logits, ids[:2], prompt_len=2) is None  # nothing generated
    assert perplexity(None) is None


def test_log_softmax_does_not_overflow_on_large_logits():
    out = log_softmax(np.array([[1000.0, 1000.0]]))
    assert out == pytest.approx(np.log([[0.5, 0.5]]))


def test_distinct_n_on_hand_made_strings():
    words = ["the", "cat", "saw", "the", "cat"]
    assert distinct_n(words, 1) == pytest.approx(3 / 5)  # the, cat, saw
    assert distinct_n(words, 2) == pytest.approx(3 / 4)  # the-cat twice, cat-saw, saw-the
    assert distinct_n(["a", "b", "c"], 2) == 1.0
    assert distinct_n(["a"], 2) is None


def test_longest_repeated_ngram_on_hand_made_strings():
    assert longest_repeat(["a", "b", "c", "d"]) == 0
    assert longest_repeat(["the", "cat", "saw", "the", "cat"]) == 2
    assert longest_repeat(["x", "y", "z", "q", "x", "y", "z"]) == 3
    assert longest_repeat(["a", "a", "a", "a"]) == 3  # overlapping occurrences count
    assert longest_repeat([]) == 0


def test_concept_is_mean_activation_over_max_and_fires_is_the_active_share():
    assert concept(np.array([0.0, 2.0, 4.0, 0.0]), max_activation=8.0) == (pytest.approx(0.1875), 0.5)
    assert concept(np.array([]), 8.0) == (0.0, 0.0)


def test_kl_of_identical_distributions_is_zero_and_of_known_ones_matches_the_formula():
    logits = np.random.default_rng(1).normal(size=(4, 7))
    assert kl_divergence(logits, logits) == pytest.approx(0.0, abs=1e-12)
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert kl_divergence(np.log(p)[None], np.log(q)[None]) == pytest.approx(expected, rel=1e-9)
    # Two positions: the mean of their KLs.
    both = kl_divergence(np.log(np.stack([p, q])), np.log(np.stack([q, q])))
    assert both == pytest.approx(expected / 2, rel=1e-9)


def test_mean_and_95_percent_interval_on_known_numbers():
    mean, ci = mean_ci([1.0, 2.0, 3.0, 4.0])
    # s = sqrt(5/3), t(0.975, 3) = 3.182
    half = 3.182 * math.sqrt(5 / 3) / 2
    assert mean == 2.5 and ci == (pytest.approx(2.5 - half), pytest.approx(2.5 + half))
    assert mean_ci([7.0]) == (7.0, None)
    assert mean_ci([]) == (None, None)
    big = [float(i % 2) for i in range(100)]  # beyond the table: the normal quantile
    m, (_lo, hi) = mean_ci(big)
    assert hi - m == pytest.approx(1.96 * np.std(big, ddof=1) / 10)


def test_slope_is_least_squares():
    assert slope([0, 1, 2], [1, 3, 5]) == pytest.approx(2.0)
    assert slope([-1, 0, 1], [0, 1, 0]) == pytest.approx(0.0)
    assert slope([1, 1], [0, 5]) is None
