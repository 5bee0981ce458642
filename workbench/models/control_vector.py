"""The one function that turns add edits into a llama.cpp control vector.

The llama.cpp backend sets it on a context with `llama_set_adapter_cvec`, and the GGUF export
(workbench/session/export_gguf.py) writes it as `direction.N` tensors: both lay it out here, so a vector
exported from a session is exactly the one the backend steered with.

Layout (llama.cpp `llama_adapter_cvec::apply`): one flat float32 buffer of (n_layers − 1) × d_model values,
layer L at offset (L − 1)·d_model; llama.cpp adds it to `l_out-L`, the output of decoder block L, the residual
our torch hooks on `model.model.layers[L]` steer. Block 0 has no slot: it cannot be steered this way.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from workbench.errors import SteeringError


def control_vector(adds: Iterable[tuple[int, np.ndarray]], n_layers: int, d_model: int) -> np.ndarray:
    """The flat buffer for (layer, vector) additions, summed per layer; layer 0, a layer out of range or a
    vector whose width is not `d_model` is one clear error."""
    data = np.zeros((n_layers - 1, d_model), dtype=np.float64)
    for layer, vector in adds:
        if layer == 0:
            raise SteeringError("layer 0 cannot be steered by a llama.cpp control vector: use layer 1 or later")
        if not 0 < layer < n_layers:
            raise SteeringError(f"layer {layer} is out of range: the model has layers 0–{n_layers - 1}")
        vector = np.asarray(vector, dtype=np.float64).ravel()
        if vector.shape != (d_model,):
            raise SteeringError(
                f"a control vector for layer {layer} needs {d_model} values (the model's width), got {vector.size}"
            )
        data[layer - 1] += vector
    return data.astype(np.float32).ravel()
