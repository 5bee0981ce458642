"""The statistic behind the `maxact` unit: the max over tokens that are not massive, and files that say so."""

import numpy as np
import pytest

from tests.factories import make_sae
from workbench.npzfile import read_npz, write_npz
from workbench.saes.stats import (
    LEGACY_MAX,
    ROBUST_MAX,
    STATS_FILE,
    TOP_KEPT,
    FeatureStatistics,
    StatisticsTally,
)


def _resid(rng, n, d=4, scale=1.0):
    return rng.normal(0, 1, size=(n, d)) + scale * np.array([10.0, 0, 0, 0])


def test_a_massive_token_does_not_set_the_max_activation():
    rng = np.random.default_rng(0)
    tally = StatisticsTally(d_sae=3)
    acts = [np.abs(rng.normal(size=(30, 3))) for _ in range(3)]
    resids = [_resid(rng, 30) for _ in range(3)]
    resids[1][7] *= 500.0  # one massive token in the second text…
    acts[1][7, 0] = 99.0  # …where feature 0 fires far above anything else
    for r, a in zip(resids, acts, strict=True):
        tally.add(r.astype(np.float32), a.astype(np.float32))
    stats = tally.finish("synthetic")
    every = np.concatenate(acts)
    ordinary = np.ones(90, bool)
    ordinary[30 + 7] = False
    # By hand: the max over the ordinary tokens, not the all-token max (99).
    np.testing.assert_allclose(stats.max_activation, every[ordinary].max(axis=0), rtol=1e-6)
    assert every.max(axis=0)[0] == 99.0 > stats.max_activation[0]
    assert stats.max_statistic == ROBUST_MAX and stats.robust and stats.n_massive == 1
    norms = np.linalg.norm(np.concatenate(resids), axis=1)
    assert stats.resid_norm == pytest.approx(norms[ordinary].mean(), rel=1e-5)
    # Density and mean activation still count every token.
    np.testing.assert_allclose(stats.density, (every > 0).mean(axis=0), rtol=1e-6)


def test_when_every_kept_activation_is_massive_the_smallest_kept_stands_in():
    rng = np.random.default_rng(1)
    tally = StatisticsTally(d_sae=2)
    n = TOP_KEPT + 200
    resid = _resid(rng, n)
    acts = np.zeros((n, 2), np.float32)
    acts[:, 1] = np.arange(n) / n  # feature 1: ordinary tokens only
    acts[: TOP_KEPT + 1, 0] = np.arange(100, 101 + TOP_KEPT)  # feature 0: top TOP_KEPT + 1 on massive tokens
    resid[: TOP_KEPT + 1] *= 1000.0
    acts[TOP_KEPT + 1 :, 0] = 1.0
    tally.add(resid.astype(np.float32), acts)
    stats = tally.finish("synthetic")
    assert stats.max_activation[1] == pytest.approx((n - 1) / n)
    assert stats.max_activation[0] == 101.0  # the smallest of the TOP_KEPT kept: an upper bound of the true 1.0


def test_the_statistic_round_trips_and_an_old_file_loads_as_the_old_max(tmp_path):
    stats = FeatureStatistics(np.ones(3, np.float32), np.zeros(3, np.float32), np.ones(3, np.float32), 2.0, 5, "t")
    stats.save(tmp_path / STATS_FILE)
    again = FeatureStatistics.load(tmp_path / STATS_FILE)
    assert again.max_statistic == ROBUST_MAX and again.massive_factor == 10.0
    header, arrays = read_npz(tmp_path / STATS_FILE)
    for key in ("max_statistic", "massive_factor", "n_massive"):
        del header[key]
    header["format_version"] = 1
    write_npz(tmp_path / "old.npz", header, arrays)
    old = FeatureStatistics.load(tmp_path / "old.npz")
    assert old.max_statistic == LEGACY_MAX and not old.robust and old.massive_factor is None
    np.testing.assert_array_equal(old.max_activation, stats.max_activation)


def test_the_loader_prefers_robust_statistics_to_an_old_file_next_to_the_sae(backend, tmp_path):
    from workbench.saes.loader import load_sae
    from workbench.saes.spec import SaeSpec

    folder = make_sae(tmp_path / "s", d_in=64, layer=1, d_sae=3)
    old = FeatureStatistics(
        np.full(3, 7.0, np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32), 1.0, 5, "old", LEGACY_MAX
    )
    old.save(folder / STATS_FILE)
    assert load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", "L1").stats.max_statistic == LEGACY_MAX
    loaded = load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", "L1")
    robust = FeatureStatistics(np.full(3, 5.0, np.float32), old.density, old.mean_activation, 1.0, 5, "new")
    robust.save(loaded.stats_cache_path())
    again = load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", "L1").stats
    assert again.robust and again.max_activation[0] == 5.0
