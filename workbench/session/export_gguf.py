"""A variant's add-edits as a llama.cpp control vector (GGUF).

The layout llama.cpp reads (common/common.cpp, `common_control_vector_load_one`): `general.architecture =
"controlvector"`, `controlvector.model_hint` (the model's architecture) and `controlvector.layer_count`, and one
1-D F32 tensor `direction.N` per layer N ≥ 1. llama.cpp adds `direction.N` to the output of decoder block N
(counting from 0), the residual that our hooks on `model.model.layers[N]` steer, so layer numbers carry over
unchanged; block 0 cannot be steered that way. Like llama.cpp's own cvector-generator, we write every layer
1 … n_layers−1, zeros where the variant has no edit.

A feature edit's direction is its raw strength × the feature's decoder direction (as the steering hooks add
it); several edits at one layer are summed. Clamp and ablate depend on the activation at each token and have
no constant-vector form, so they are left out, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.errors import WorkbenchError
from workbench.session.errors import SessionError
from workbench.session.io import atomic_write
from workbench.session.model import Session
from workbench.steering.plan import EditMode, PositionScope, StrengthUnit, Variant
from workbench.steering.units import to_raw

if TYPE_CHECKING:
    from workbench.saes.loader import LoadedSae

ARCH = "controlvector"


@dataclass(frozen=True)
class ControlVector:
    variant: str
    model_hint: str
    n_layers: int
    d_model: int
    directions: dict[int, np.ndarray]  # layer (≥ 1) → (d_model,) float32
    notes: tuple[str, ...]  # edits left out or changed in meaning

    def buffer(self) -> np.ndarray:
        """The flat array llama_set_adapter_cvec takes: layers 1 … n_layers−1, layer L at (L−1)·d_model; built by
        the function the llama.cpp backend steers with, so an exported vector is the one a run used."""
        from workbench.models.control_vector import control_vector

        return control_vector(self.directions.items(), self.n_layers, self.d_model)


def pick_variant(session: Session, name: str | None, need_edits: bool = True) -> Variant:
    """The named variant; without a name, the only steered one (an error if there are several)."""
    variants = session.plan.variants
    if name is not None:
        for v in variants:
            if v.name == name:
                return v
        raise SessionError(f"no variant named {name!r} (variants: {', '.join(v.name for v in variants)})")
    steered = [v for v in variants if v.active_edits] if need_edits else list(variants[1:] or variants)
    if len(steered) == 1:
        return steered[0]
    if not steered:
        raise SessionError("the session has no steered variant to export")
    raise SessionError(f"choose a variant with --variant (one of: {', '.join(v.name for v in steered)})")


def control_vector(session: Session, variant_name: str | None, saes: Sequence[LoadedSae]) -> ControlVector:
    """The variant's add-edits summed per layer; `saes` are the session's SAEs, loaded (any device)."""
    from workbench.saes.directions import sae_directions
    from workbench.saes.selection import sae_for_edit
    from workbench.session.record import edit_scales
    from workbench.session.replay import plan_for_saes

    m = session.model
    index = session.plan.variants.index(pick_variant(session, variant_name))
    variant = plan_for_saes(session, saes).variants[index]
    outcomes = session.outputs[index].edits if session.outputs else ()
    directions: dict[int, np.ndarray] = {}
    notes: list[str] = []
    for n, edit in enumerate(variant.active_edits):
        what = edit.describe()
        if edit.mode is not EditMode.ADD:
            notes.append(f"left out {what}: a {edit.mode.value} edit has no constant control-vector form")
            continue
        if edit.layer == 0:
            notes.append(f"left out {what}: llama.cpp control vectors cannot steer layer 0")
            continue
        if edit.positions is not PositionScope.ALL:
            notes.append(f"{what}: llama.cpp adds a control vector at every position, not only the {edit.positions}")
        if edit.vector is not None:
            direction = np.asarray(edit.vector, dtype=np.float64)
            sae = None
        else:
            sae = sae_for_edit(saes, edit.layer, edit.sae)
            if sae is None or edit.feature is None:
                raise SessionError(f"edit {what} needs an SAE at layer {edit.layer}, which is not loaded")
            direction = sae_directions(sae.sae, [edit.feature])[0].float().cpu().numpy().astype(np.float64)
        if n < len(outcomes):
            raw = outcomes[n].raw_strength  # what the recorded run actually added
        elif edit.unit is StrengthUnit.RAW:
            raw = edit.strength
        else:
            try:
                raw = to_raw(edit.strength, edit.unit, edit_scales(saes, edit), f"edit {what}")
            except WorkbenchError as exc:
                raise SessionError(str(exc)) from exc
        directions[edit.layer] = directions.get(edit.layer, np.zeros(m.d_model)) + raw * direction
    if not directions:
        raise SessionError(f"variant {variant.name!r} has no add edit that a control vector can carry")
    return ControlVector(
        variant=variant.name,
        model_hint=m.architecture,
        n_layers=m.n_layers,
        d_model=m.d_model,
        directions={k: v.astype(np.float32) for k, v in sorted(directions.items())},
        notes=tuple(notes),
    )


def write_control_vector(vector: ControlVector, out: str | Path) -> list[Path]:
    """Write the GGUF atomically."""
    import gguf

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(str(tmp), ARCH)
        writer.add_string(f"{ARCH}.model_hint", vector.model_hint)
        writer.add_uint32(f"{ARCH}.layer_count", vector.n_layers - 1)
        writer.add_description(f"Steering Workbench variant {vector.variant!r}")
        data = vector.buffer().reshape(vector.n_layers - 1, vector.d_model)
        for layer in range(1, vector.n_layers):
            writer.add_tensor(f"direction.{layer}", np.ascontiguousarray(data[layer - 1]))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    out = Path(out)
    atomic_write(out, write)
    return [out]


def read_control_vector(path: str | Path) -> tuple[str, int, np.ndarray]:
    """(model hint, n_embd, flat layer-1-first buffer) from a control-vector GGUF, read as llama.cpp reads it."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    field = reader.fields[f"{ARCH}.model_hint"]
    hint = bytes(field.parts[field.data[0]]).decode("utf-8")
    rows: dict[int, np.ndarray] = {}
    for tensor in reader.tensors:
        prefix, _, number = tensor.name.partition(".")
        if prefix != "direction" or not number.isdigit() or int(number) == 0:
            raise SessionError(f"{path}: tensor {tensor.name!r} is not a direction.N with N ≥ 1")
        rows[int(number)] = np.asarray(tensor.data, dtype=np.float32).ravel()
    if not rows:
        raise SessionError(f"{path}: no direction tensors")
    n_embd = len(next(iter(rows.values())))
    data = np.zeros((max(rows), n_embd), dtype=np.float32)
    for layer, row in rows.items():
        data[layer - 1] += row
    return hint, n_embd, data.ravel()


def load_session_saes(session: Session, device: str = "cpu") -> list[LoadedSae]:
    """The session's SAEs without its model (the control vector needs only their decoder rows)."""
    from workbench.models.protocol import ModelInfo
    from workbench.saes.loader import load_sae
    from workbench.saes.spec import SaeSpec
    from workbench.session.record import missing_files

    missing = [m for m in missing_files(session) if m.kind == "sae"]
    if missing:
        raise SessionError("; ".join(m.message for m in missing))
    m = session.model
    info = ModelInfo(
        name=m.name,
        path="",
        source=m.spec,
        device=device,
        dtype="float32",
        n_layers=m.n_layers,
        d_model=m.d_model,
        vocab_size=m.vocab_size,
        has_chat_template=session.chat,
        parameters=0,
        memory_bytes=0,
    )
    return [load_sae(SaeSpec.parse(r.spec), info, device, key=r.key) for r in session.saes]
