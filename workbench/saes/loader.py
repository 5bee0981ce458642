"""Load SAEs through sae-lens and check that they fit the loaded model."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import SaeLoadError, WorkbenchError
from workbench.hashing import sae_folder_sha256
from workbench.models.protocol import ModelInfo
from workbench.paths import cache_dir
from workbench.saes.hook_names import residual_layer
from workbench.saes.sae_files import WEIGHTS_FILE, check_sae_folder
from workbench.saes.spec import SaeSource, SaeSpec
from workbench.saes.stats import STATS_FILE, FeatureStatistics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SaeSummary:
    """What the GUI and CLI may know about a loaded SAE (plain data; crosses threads)."""

    key: str
    layer: int
    d_in: int
    d_sae: int
    source: str
    architecture: str
    hook_name: str
    has_statistics: bool
    # (robust FVE, what it was measured on) from the SAE folder's metrics.json; None when unknown
    known_fve: tuple[float, str] | None = None


@dataclass
class LoadedSae:
    """A sae-lens SAE on the worker thread, with the layer it reads and its statistics if known."""

    key: str
    spec: SaeSpec
    sae: Any  # sae_lens.SAE; a torch module, so it never leaves the worker thread
    layer: int
    hook_name: str
    fingerprint: str
    stats: FeatureStatistics | None = None

    @property
    def d_sae(self) -> int:
        return int(self.sae.cfg.d_sae)

    @property
    def d_in(self) -> int:
        return int(self.sae.cfg.d_in)

    def summary(self) -> SaeSummary:
        return SaeSummary(
            key=self.key,
            layer=self.layer,
            d_in=self.d_in,
            d_sae=self.d_sae,
            source=self.spec.describe(),
            architecture=str(self.sae.cfg.architecture()),
            hook_name=self.hook_name,
            has_statistics=self.stats is not None,
            known_fve=folder_fve(Path(self.spec.location)) if self.spec.source is SaeSource.FOLDER else None,
        )

    def stats_cache_path(self) -> Path:
        return cache_dir() / "stats" / f"{self.fingerprint}.npz"


def folder_fve(folder: Path) -> tuple[float, str] | None:
    """The robust FVE in an SAE folder's metrics.json (`sae-metrics --json`) and what it was measured on; None
    without one, or for a file written before FVE left the massive tokens out (it has no `fve_all`)."""
    try:
        record = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        fve, text = float(record["fve"]), str(record.get("texts") or record.get("text") or "")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (fve, text) if "fve_all" in record else None


def load_sae(spec: SaeSpec, model: ModelInfo, device: str, key: str) -> LoadedSae:
    """Load `spec` on `device` and check it against `model`; a clear SaeLoadError for every misfit.

    On a model spread over devices, an SAE asked for on the model's device goes to the device of the block it
    reads (read on the CPU first: which block that is, the SAE itself says)."""
    per_layer = model.spread and device == model.device
    sae = _read(spec, "cpu" if per_layer else device)
    hook_name = str(getattr(sae.cfg.metadata, "hook_name", "") or "")
    if not hook_name:
        raise SaeLoadError(f"SAE {spec.describe()} does not say which hook it reads (cfg metadata.hook_name)")
    try:
        layer = residual_layer(hook_name)
    except SaeLoadError as exc:
        raise SaeLoadError(f"SAE {spec.describe()}: {exc}") from exc
    if layer >= model.n_layers:
        raise SaeLoadError(
            f"SAE {spec.describe()} reads layer {layer}, but {model.name} has layers 0–{model.n_layers - 1}"
        )
    d_in = int(sae.cfg.d_in)
    if d_in != model.d_model:
        raise SaeLoadError(
            f"SAE {spec.describe()} has d_in {d_in}, but {model.name} has hidden size {model.d_model}: "
            "it was trained on a different model"
        )
    if per_layer:
        sae.to(model.layer_device(layer))
    sae.eval()
    for p in sae.parameters():
        p.requires_grad_(False)
    loaded = LoadedSae(key=key, spec=spec, sae=sae, layer=layer, hook_name=hook_name, fingerprint=sae_fingerprint(spec))
    loaded.stats = _find_statistics(loaded)
    return loaded


def _read(spec: SaeSpec, device: str) -> Any:
    from workbench.saes.sae_lens_lite import sae_classes

    SAE = sae_classes().SAE  # sae-lens's SAE class without the rest of sae-lens (see sae_lens_lite.py)

    if spec.source is SaeSource.FOLDER:
        sae = _read_folder(SAE, Path(spec.location), device)
    else:
        assert spec.sae_id is not None
        try:
            sae = SAE.from_pretrained(spec.location, spec.sae_id, device=device)
        except Exception as exc:  # unknown release, unknown id, or the hub is unreachable
            raise SaeLoadError(
                f"could not load SAE {spec.sae_id!r} of release {spec.location!r} from the sae-lens registry "
                f"(is the Hugging Face hub reachable?): {_short(exc)}"
            ) from exc
    _check_finite(sae, spec.describe())
    return sae


def _read_folder(sae_class: Any, folder: Path, device: str) -> Any:
    """Check the folder's files first (one line naming the file and the fault), then let sae-lens build the SAE
    from the config we read, so it does not read cfg.json again in the platform's default encoding."""
    from sae_lens.loading.pretrained_sae_loaders import read_sae_components_from_disk
    from sae_lens.registry import SAE_CLASS_REGISTRY

    files = check_sae_folder(folder, SAE_CLASS_REGISTRY)

    def converter(path: Any, device: str = "cpu", cfg_overrides: dict[str, Any] | None = None) -> Any:
        cfg = {**files.config.cfg, "device": device, **(cfg_overrides or {})}
        return read_sae_components_from_disk(cfg_dict=cfg, weight_path=folder / WEIGHTS_FILE, device=device)

    try:
        # Half-precision SAEs (the shipped demo SAEs are float16) run in float32 on the CPU, where half
        # matmuls are slow and lose precision; on accelerators they keep their stored dtype.
        dtype = "float32" if device == "cpu" else None
        return sae_class.load_from_disk(str(folder), device=device, dtype=dtype, converter=converter)
    except Exception as exc:  # sae-lens raises many kinds on a bad folder; all mean the same to the user
        what = f"{files.config.architecture} SAE in {folder}"
        raise SaeLoadError(f"could not read the {what}: {_load_error(exc)}") from exc


def _check_finite(sae: Any, where: str) -> None:
    """Refuse weights holding NaN or Inf: every steer and encode through them would be NaN, far from the cause."""
    import torch

    for name, tensor in [*sae.named_parameters(), *sae.named_buffers()]:
        # A finite sum means every value is finite (NaN and Inf carry through a sum), without a mask's memory;
        # summed in float32, so a large half-precision SAE does not overflow to Inf on its own.
        if not tensor.is_floating_point() or bool(torch.isfinite(tensor.sum(dtype=torch.float32))):
            continue
        nan = int(torch.isnan(tensor).sum())
        inf = int(torch.isinf(tensor).sum())
        if nan or inf:
            raise SaeLoadError(
                f"SAE {where}: {name} holds {nan} NaN and {inf} infinite values: refused "
                "(the file is damaged, or its training diverged)"
            )


def _load_error(exc: BaseException) -> str:
    """torch's state-dict error in one line (which tensors are missing, unexpected or of the wrong shape)."""
    text = str(exc)
    if "Error(s) in loading state_dict" not in text:
        return _short(exc)
    parts = []
    for kind, label in (("Missing", "missing tensors"), ("Unexpected", "unexpected tensors")):
        match = re.search(kind + r" key\(s\) in state_dict: (.*?)\.\s*$", text, re.MULTILINE)
        if match:
            names = match.group(1).replace('"', "")
            parts.append(f"{label} {names}")
    for name, got, wanted in re.findall(
        r"size mismatch for (\S+): copying a param with shape torch.Size\((\[.*?\])\).*?torch.Size\((\[.*?\])\)", text
    ):
        parts.append(f"{name} has shape {got}, the architecture needs {wanted}")
    return "; ".join(parts)[:300] or _short(exc)


def sae_fingerprint(spec: SaeSpec) -> str:
    """A stable id for the SAE's weights: the digest a session records for its folder (workbench/hashing.py),
    or the hash of release:id for the registry."""
    if spec.source is SaeSource.FOLDER:
        return sae_folder_sha256(spec.location)[:24]
    return hashlib.sha256(spec.describe().encode()).hexdigest()[:24]


def _find_statistics(loaded: LoadedSae) -> FeatureStatistics | None:
    """The folder's statistics or the cached ones; a file whose max leaves massive tokens out (format 2) wins
    over an older one, so `stats` recomputed into the cache replaces a shipped file of the old kind."""
    candidates = [loaded.stats_cache_path()]
    if loaded.spec.source is SaeSource.FOLDER:
        candidates.insert(0, Path(loaded.spec.location) / STATS_FILE)
    found = []
    for path in candidates:
        if path.is_file():
            try:
                stats = FeatureStatistics.load(path)
            except WorkbenchError as exc:
                log.warning("%s", exc)
                continue
            if stats.d_sae == loaded.d_sae:
                found.append(stats)
            else:
                log.warning("ignoring %s: statistics for %d features, SAE has %d", path, stats.d_sae, loaded.d_sae)
    return next((s for s in found if s.robust), found[0] if found else None)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
