"""Read a GGUF's header once while transformers converts it, instead of three times.

transformers builds the tokenizer, the config and the state dict from a GGUF in three separate calls, each of which
opens its own `gguf.GGUFReader`; gguf-py's reader parses the metadata field by field (for a 49k-token vocabulary,
millions of small numpy views: about 2.7 s of CPU each on a 2-core EPYC). While the state dict is filled it also
builds gguf-py's tensor-name map (every name pattern of every layer) once per tensor, ~400 times, though it depends
only on the architecture and the layer count. Inside `shared_gguf_parse` both are made once and shared.

The reader is read-only (a read-only memory map and the fields parsed from it) and the name map is only looked up,
so sharing them changes nothing transformers computes: the converted weights and tokenizer are identical
(tests/core/models/test_gguf_once.py compares them). The patch is on gguf-py's module attributes, which transformers
imports inside its functions at call time; it is undone on the way out. Conversions run one at a time (the model
process runs one job at a time), so nothing else sees the patched names meanwhile.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def shared_gguf_parse() -> Iterator[dict[tuple[str, str], Any]]:
    """Within the block, `gguf.GGUFReader(path)` returns one reader per (path, mode) and `gguf.get_tensor_name_map`
    one map per (architecture, layers). Yields the readers made (path, mode) → reader."""
    import gguf

    readers: dict[tuple[str, str], Any] = {}
    make_reader = gguf.GGUFReader
    make_name_map = gguf.get_tensor_name_map

    def shared_reader(path: os.PathLike[str] | str, mode: str = "r") -> Any:
        key = (os.path.realpath(path), mode)
        if key not in readers:
            readers[key] = make_reader(path, mode)  # type: ignore[arg-type]
        return readers[key]

    gguf.GGUFReader = shared_reader  # type: ignore[assignment,misc]
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(make_name_map)
    try:
        yield readers
    finally:
        gguf.GGUFReader = make_reader  # type: ignore[misc]
        gguf.get_tensor_name_map = make_name_map
