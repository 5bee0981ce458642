"""The training data the demo SAEs see: cached shards read back in order, massive-activation tokens left out."""

import numpy as np

from workbench.recipe.training import load_shards


def _shard(path, rows):
    np.save(path, rows.astype(np.float16))


def test_shards_are_read_in_order_up_to_n_rows_without_massive_tokens(tmp_path):
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(50, 8)), rng.normal(size=(50, 8))
    first[7] *= 400  # a sink-like row: norm ~1000 where the median is ~2.7
    _shard(tmp_path / "L3_00000.npy", first)
    _shard(tmp_path / "L3_00001.npy", second)
    _shard(tmp_path / "L3_00002.npy.tmp.npy", second)  # an interrupted write is not data
    _shard(tmp_path / "L4_00000.npy", second)  # another layer's
    data = load_shards(tmp_path, 3, 80).numpy()
    expected = np.concatenate([np.delete(first, 7, axis=0), second[:30]]).astype(np.float16)
    np.testing.assert_array_equal(data, expected)
