"""Turn a SteeringPlan into per-layer tensors and forward hooks, one batch row per variant.

Hooks are attached for one forward pass at a time (`CompiledPlan.attached`) and always removed in `finally`,
so an error, a cancel or an abandoned generation can never leave a steering hook on the model. Every edit
counts the positions it changed, so "the steer silently did nothing" shows up as a flagged edit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.errors import SteeringError
from workbench.models.edits import ConstantAdd, EditFiring, scope_slice
from workbench.saes.directions import sae_directions
from workbench.saes.selection import sae_for_edit
from workbench.steering.feature_reader import FeatureReader
from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, SteeringPlan, StrengthUnit
from workbench.steering.units import UnitScales, to_raw, unit_scales

if TYPE_CHECKING:
    import torch

    from workbench.models.protocol import Capabilities, ModelInfo
    from workbench.saes.loader import LoadedSae


@dataclass
class _Edit:
    row: int
    edit: FeatureEdit
    coefficient: float
    feature_slot: int = -1  # column in its clamp group's feature list
    count: int = 0
    count_tensor: Any = None  # clamp counts accumulate on the device: no sync per token
    vector: Any = None  # add edits: coefficient × direction, (d_model,) float32 numpy (see constant_adds)


@dataclass
class _ClampGroup:
    sae: LoadedSae
    rows: list[int]
    features: list[int]
    directions: Any  # (len(features), d_in) in SAE space
    reader: FeatureReader  # a(x) for `features`, as sae.encode gives them (feature_reader.py)
    edits: list[_Edit] = field(default_factory=list)
    _row_index: Any = None  # `rows` as a tensor on the residual's device, made on first use

    def row_index(self, device: Any) -> torch.Tensor:
        import torch

        if self._row_index is None or self._row_index.device != device:
            self._row_index = torch.tensor(self.rows, device=device)
        return self._row_index


@dataclass
class _LayerEdits:
    add_deltas: dict[PositionScope, Any] = field(default_factory=dict)  # scope → (rows, 1, d) model dtype
    add_edits: list[_Edit] = field(default_factory=list)
    clamp_groups: list[_ClampGroup] = field(default_factory=list)


def scope_range(scope: PositionScope, start: int, length: int, prompt_len: int) -> tuple[int, int]:
    """The slice [lo, hi) of a forward chunk (absolute positions start…start+length) that `scope` covers
    (one rule for every backend: models/edits.py)."""
    return scope_slice(scope.value, start, length, prompt_len)


class CompiledPlan:
    """A plan bound to a model's device and dtype and to loaded SAEs. Lives on the worker thread.

    It is the `ResidualEdits` a backend applies (workbench/models/edits.py).
    """

    def __init__(self, names: Sequence[str], layers: dict[int, _LayerEdits], edits: list[_Edit]) -> None:
        self.names = list(names)
        self.n_rows = len(self.names)
        self._layers = layers
        self._edits = edits
        self.prompt_len = 0

    @property
    def layers(self) -> list[int]:
        return sorted(self._layers)

    def reset_counts(self) -> None:
        for e in self._edits:
            e.count = 0
            e.count_tensor = None

    def firing_report(self) -> list[tuple[EditFiring, ...]]:
        """Per row, per edit: how many positions it changed since the last reset."""
        report: list[list[EditFiring]] = [[] for _ in range(self.n_rows)]
        for e in self._edits:
            extra = int(e.count_tensor.item()) if e.count_tensor is not None else 0
            report[e.row].append(EditFiring(e.edit, e.coefficient, e.count + extra))
        return [tuple(r) for r in report]

    def constant_adds(self) -> list[ConstantAdd]:
        """Every add edit as a constant vector (a llama.cpp control vector sums them per layer)."""
        return [
            ConstantAdd(e.row, e.edit.layer, e.edit.positions.value, e.vector)
            for e in self._edits
            if e.edit.mode is EditMode.ADD and e.vector is not None
        ]

    def count_positions(self, start: int, length: int, prompt_len: int) -> None:
        """Count the positions every add edit covers in a chunk whose vectors the backend added itself."""
        for e in self._edits:
            if e.edit.mode is EditMode.ADD and e.coefficient != 0:
                lo, hi = scope_range(e.edit.positions, start, length, prompt_len)
                e.count += max(hi - lo, 0)

    @contextmanager
    def attached(self, blocks: Sequence[Any], start: int, prompt_len: int) -> Iterator[None]:
        """Hooks on the decoder blocks for one forward pass whose first position is `start`."""
        handles = []
        try:
            for layer, edits in self._layers.items():
                hook = _make_hook(edits, start, prompt_len)
                handles.append(blocks[layer].register_forward_hook(hook))
            yield
        finally:
            for handle in handles:
                handle.remove()


def _make_hook(edits: _LayerEdits, start: int, prompt_len: int) -> Any:
    def hook(_module: Any, _args: Any, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        steered = _steer(hidden, edits, start, prompt_len)
        return (steered, *output[1:]) if isinstance(output, tuple) else steered

    return hook


def _steer(hidden: torch.Tensor, edits: _LayerEdits, start: int, prompt_len: int) -> torch.Tensor:
    length = hidden.shape[1]
    out = hidden
    # Adds first; a clamp then holds its feature at c on the already-added residual.
    for scope, delta in edits.add_deltas.items():
        lo, hi = scope_range(scope, start, length, prompt_len)
        if hi <= lo:
            continue
        if delta.device != out.device:  # an offloaded block whose output lands elsewhere than planned
            delta = edits.add_deltas[scope] = delta.to(out.device)
        if lo == 0 and hi == length:
            out = out + delta
        else:
            out = out.clone() if out is hidden else out
            out[:, lo:hi] += delta
    for e in edits.add_edits:
        lo, hi = scope_range(e.edit.positions, start, length, prompt_len)
        if e.coefficient != 0:
            e.count += max(hi - lo, 0)
    for group in edits.clamp_groups:
        out = _clamp(out, hidden, group, start, prompt_len)
    return out


def _clamp(out: torch.Tensor, hidden: torch.Tensor, group: _ClampGroup, start: int, prompt_len: int) -> torch.Tensor:
    """x ← x + Σ (c − a_i(x))·d_i over the group's features; the SAE error term is untouched. Only the positions
    some edit of the group covers are encoded (at a decoding step: the one new position)."""
    import torch

    length = out.shape[1]
    spans = [(e, *scope_range(e.edit.positions, start, length, prompt_len)) for e in group.edits]
    spans = [(e, lo, hi) for e, lo, hi in spans if hi > lo]
    if not spans:
        return out
    first, last = min(lo for _, lo, _ in spans), max(hi for _, _, hi in spans)
    rows = group.row_index(out.device)
    reader = group.reader
    x = out[:, first:last].index_select(0, rows).to(reader.device, reader.dtype)  # the same device, unless offloaded
    acts = reader(x)  # (n, last - first, F), in the SAE's space
    coef = torch.zeros_like(acts)
    for e, lo, hi in spans:
        slot = group.rows.index(e.row)
        diff = e.coefficient - acts[slot, lo - first : hi - first, e.feature_slot]
        coef[slot, lo - first : hi - first, e.feature_slot] = diff
        changed = (diff != 0).sum()
        e.count_tensor = changed if e.count_tensor is None else e.count_tensor + changed
    delta = reader.to_model_space(coef @ group.directions).to(out.device, out.dtype)
    out = out.clone() if out is hidden else out
    out[:, first:last].index_add_(0, rows, delta)
    return out


def compile_plan(
    plan: SteeringPlan,
    saes: Sequence[LoadedSae],
    info: ModelInfo,
    capabilities: Capabilities,
    device: str | None = None,
    dtype: torch.dtype | None = None,
) -> CompiledPlan:
    """Check every edit against the model and SAEs, convert units, and build the per-layer tensors.

    The tensors go to `device` and `dtype`, by default the model's (`info`): each layer's to the device its
    block runs on, for a model spread over devices.
    """
    import torch

    from workbench.devices import resolve_dtype

    dtype = dtype or resolve_dtype(info.dtype, device or info.device)

    n_rows = len(plan.variants)
    layers: dict[int, _LayerEdits] = {}
    all_edits: list[_Edit] = []
    adds: dict[tuple[int, PositionScope], torch.Tensor] = {}
    clamps: dict[tuple[int, str], list[tuple[_Edit, LoadedSae]]] = {}
    for row, variant in enumerate(plan.variants):
        for edit in variant.active_edits:
            _check_layer(edit, info)
            if edit.mode not in capabilities.modes:
                raise SteeringError(
                    f"this model backend cannot {edit.mode.value} (edit {edit.describe()}): "
                    "add edits only; the torch backend can clamp and ablate"
                )
            if edit.vector is not None:
                direction = _vector_direction(edit, info)
                scales = unit_scales(None, _layer_resid_norm(saes, edit.layer), float(direction.norm()))
                sae = None
            else:
                sae = _sae_for(edit, saes)
                assert edit.feature is not None
                direction = sae_directions(sae.sae, [edit.feature])[0].float().cpu()
                stats = sae.stats
                if stats is not None and edit.unit is StrengthUnit.MAXACT and stats.max_activation[edit.feature] <= 0:
                    raise SteeringError(
                        f"feature {edit.feature} at layer {edit.layer} never fired on the statistics text "
                        f"({stats.source}), so its maxact unit is undefined: use raw or resid"
                    )
                scales = unit_scales(
                    float(stats.max_activation[edit.feature]) if stats is not None else None,
                    stats.resid_norm if stats is not None else None,
                    float(direction.norm()),
                )
            coefficient = 0.0 if edit.mode is EditMode.ABLATE else _raw(edit, scales)
            item = _Edit(row=row, edit=edit, coefficient=coefficient)
            if edit.mode is EditMode.ADD:
                item.vector = (coefficient * direction).numpy().astype("float32")
            all_edits.append(item)
            layer_edits = layers.setdefault(edit.layer, _LayerEdits())
            if edit.mode is EditMode.ADD:
                key = (edit.layer, edit.positions)
                if key not in adds:
                    adds[key] = torch.zeros(n_rows, 1, info.d_model)
                adds[key][row, 0] += coefficient * direction
                layer_edits.add_edits.append(item)
            else:
                assert sae is not None
                clamps.setdefault((edit.layer, sae.key), []).append((item, sae))
    for (layer, scope), delta in adds.items():
        layers[layer].add_deltas[scope] = delta.to(device=device or info.layer_device(layer), dtype=dtype)
    for (layer, _key), items in clamps.items():
        sae = items[0][1]
        features = sorted({int(e.edit.feature) for e, _ in items if e.edit.feature is not None})
        rows = sorted({e.row for e, _ in items})
        for e, _ in items:
            e.feature_slot = features.index(int(e.edit.feature or 0))
        group = _ClampGroup(
            sae=sae,
            rows=rows,
            features=features,
            directions=sae_directions(sae.sae, features),
            reader=FeatureReader(sae.sae, features),
            edits=[e for e, _ in items],
        )
        layers[layer].clamp_groups.append(group)
    return CompiledPlan([v.name for v in plan.variants], layers, all_edits)


def _check_layer(edit: FeatureEdit, info: ModelInfo) -> None:
    if not 0 <= edit.layer < info.n_layers:
        raise SteeringError(f"layer {edit.layer} is out of range: {info.name} has layers 0–{info.n_layers - 1}")


def _sae_for(edit: FeatureEdit, saes: Sequence[LoadedSae]) -> LoadedSae:
    sae = sae_for_edit(saes, edit.layer, edit.sae)
    if sae is None:
        loaded = ", ".join(str(s.layer) for s in saes) or "none"
        which = f" named {edit.sae!r}" if edit.sae else ""
        raise SteeringError(f"no SAE{which} is loaded at layer {edit.layer} (SAEs are loaded at layers: {loaded})")
    assert edit.feature is not None
    if edit.feature >= sae.d_sae:
        raise SteeringError(
            f"feature {edit.feature} does not exist: the SAE at layer {edit.layer} has features 0–{sae.d_sae - 1}"
        )
    return sae


def _vector_direction(edit: FeatureEdit, info: ModelInfo) -> torch.Tensor:
    import torch

    assert edit.vector is not None
    if len(edit.vector) != info.d_model:
        raise SteeringError(f"a raw vector for layer {edit.layer} needs {info.d_model} values, got {len(edit.vector)}")
    return torch.tensor(edit.vector, dtype=torch.float32)


def _layer_resid_norm(saes: Sequence[LoadedSae], layer: int) -> float | None:
    for s in saes:
        if s.layer == layer and s.stats is not None:
            return s.stats.resid_norm
    return None


def _raw(edit: FeatureEdit, scales: UnitScales) -> float:
    what = f"feature {edit.feature} at layer {edit.layer}" if edit.feature is not None else f"layer {edit.layer}"
    if edit.unit is StrengthUnit.MAXACT and edit.vector is not None:
        raise SteeringError("the maxact unit needs an SAE feature; a raw vector has no max activation")
    return to_raw(edit.strength, edit.unit, scales, what)
