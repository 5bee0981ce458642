"""Train the demo SAEs with sae-lens's `SAETrainer`, resumably, on cached residual-stream activations.

STEP 1 (`cache_activations`): run the model once over packed token windows of the train split and store the
        residual after each chosen block as float16 shards. One forward pass serves all layers, which is why
        we do not use `LanguageModelSAETrainingRunner` (it runs the model once per SAE; on a 2-core CPU the
        model forward, not the SAE step, is the cost). Position 0 of every window is left out: its residual is
        an attention-sink outlier with ~10–50× the norm of the rest and would dominate the loss.
STEP 2 (`train_layer`): sae-lens `SAETrainer` on a TopK SAE, data from the shards in a seeded order per epoch.
        It checkpoints (weights, Adam state, scaler, counters) every `checkpoint_every` samples, and a rerun
        resumes from the newest checkpoint, so training survives a killed session.
STEP 3 (`export_sae`): fold the normalisation, save the inference SAE in sae-lens's folder format (float16),
        with the recipe and seed in `training.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError
from workbench.recipe.corpus import pack_windows
from workbench.saes.massive import massive_mask

if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend

log = logging.getLogger(__name__)

SHARD_WINDOWS = 256  # windows per activation shard: 256 × 127 tokens ≈ 32 k rows, ~37 MB per layer in float16


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that decides the weights; written next to them as `training.json`."""

    layers: tuple[int, ...] = (8, 15, 22)
    d_sae: int = 4608  # 8 × d_model (576)
    # TopK: L0 is exactly k on training tokens. Recipe v2 (k 32, 420 k tokens × 2 epochs) left layers 15 and 22 at
    # robust FVE 0.75; v3 doubles k (the top of the 16–64 L0 range the app targets) and the distinct tokens.
    k: int = 64
    context: int = 128  # tokens per packed window; position 0 of each is dropped
    n_tokens: int = 840_000  # distinct training activations per layer (one model pass on a 2-core CPU: ~20 min)
    epochs: float = 2.5  # passes over the cached activations (the SAE step is cheap; new activations are not)
    batch_size: int = 1024  # more, smaller steps: better for a short budget
    lr: float = 5e-4
    lr_warm_up_steps: int = 50
    lr_decay_fraction: float = 0.2  # linear decay to 0 over the last 20 % of steps
    # A strong AuxK (sae-lens's default weight) and an early dead window: with 1/32 and 200 steps, a first run
    # ended with ~70 % of latents dead after 410 steps.
    aux_loss_coefficient: float = 1.0
    dead_feature_window: int = 100  # steps without firing before AuxK trains a latent on the residual error
    b_dec_init: str = "mean"  # start the decoder bias at the data mean, so latents model deviations from it
    checkpoint_every: int = 50_000  # samples
    seed: int = 0
    model_batch: int = 8  # windows per model forward while caching
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def recipe_id(self) -> str:
        """Names this recipe's checkpoints, so a changed recipe never resumes another recipe's run."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    @property
    def total_samples(self) -> int:
        return int(self.n_tokens * self.epochs) // self.batch_size * self.batch_size


# -- STEP 1 ----------------------------------------------------------------------------------------------------
def cache_activations(
    backend: ModelBackend,
    texts: Sequence[str],
    recipe: TrainingRecipe,
    out_dir: Path,
    cancel: CancelToken | None = None,
) -> int:
    """Write shards `L{layer}_{shard:05d}.npy` until `recipe.n_tokens` rows per layer; returns the rows on disk.

    Shards are written atomically and skipped when present, so an interrupted run resumes where it stopped.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    separator = backend.info.eos_token_id
    if separator is None:
        raise InputError(f"{backend.info.name} has no end-of-text token to separate packed documents")
    per_window = recipe.context - 1
    n_shards = -(-recipe.n_tokens // (SHARD_WINDOWS * per_window))
    token_lists = (backend.encode_text(t) for t in texts)
    windows = pack_windows(token_lists, recipe.context, separator)
    started, rows = time.monotonic(), 0
    for shard in range(n_shards):
        batch_windows = [w for _, w in zip(range(SHARD_WINDOWS), windows, strict=False)]
        if len(batch_windows) < SHARD_WINDOWS:
            log.warning("corpus exhausted after %d shards", shard)
            break
        paths = {layer: out_dir / f"L{layer}_{shard:05d}.npy" for layer in recipe.layers}
        if all(p.is_file() for p in paths.values()):
            rows += SHARD_WINDOWS * per_window
            continue
        chunks: dict[int, list[np.ndarray]] = {layer: [] for layer in recipe.layers}
        for start in range(0, SHARD_WINDOWS, recipe.model_batch):
            check(cancel)
            rows_batch = batch_windows[start : start + recipe.model_batch]
            for layer, acts in backend.residual_batch(rows_batch, recipe.layers, cancel).items():
                chunks[layer].append(acts[:, 1:].reshape(-1, acts.shape[-1]).astype(np.float16))
        for layer, path in paths.items():
            tmp = path.with_name(path.name + ".tmp.npy")
            np.save(tmp, np.concatenate(chunks[layer]))
            tmp.replace(path)
        rows += SHARD_WINDOWS * per_window
        rate = rows / max(time.monotonic() - started, 1e-6)
        log.info("cached shard %d/%d (%d rows, %.0f tokens/s this run)", shard + 1, n_shards, rows, rate)
    return rows


# -- STEP 2 ----------------------------------------------------------------------------------------------------
def load_shards(act_dir: Path, layer: int, n_rows: int) -> Any:
    """The first `n_rows` cached rows of `layer`, without massive-activation tokens.

    A massive token (norm > MASSIVE_FACTOR × the median; e.g. a sink at a document boundary inside a window) has
    ~100× the squared norm of the rest: a handful of them would set the loss, as they once set the FVE.
    """
    import torch

    paths = sorted(act_dir.glob(f"L{layer}_*.npy"))
    paths = [p for p in paths if not p.name.endswith(".tmp.npy")]
    if not paths:
        raise FileNotFoundError(f"no cached activations for layer {layer} in {act_dir}")
    rows = np.concatenate([np.load(p) for p in paths])[:n_rows]
    keep = ~massive_mask(np.linalg.norm(rows.astype(np.float32), axis=-1))
    log.info("layer %d: %d cached rows, %d massive left out", layer, len(rows), int((~keep).sum()))
    return torch.from_numpy(rows[keep])


def batches(data: Any, batch_size: int, seed: int, start_sample: int) -> Iterator[Any]:
    """Float32 batches in a seeded permutation per epoch, starting at sample `start_sample` (for resuming)."""
    import torch

    n = data.shape[0] // batch_size * batch_size
    epoch, offset = divmod(start_sample, n)
    while True:
        order = torch.randperm(data.shape[0], generator=torch.Generator().manual_seed(seed * 1000 + epoch))[:n]
        for i in range(offset, n, batch_size):
            yield data[order[i : i + batch_size]].float()
        epoch, offset = epoch + 1, 0


def train_layer(layer: int, act_dir: Path, work_dir: Path, recipe: TrainingRecipe, model_name: str) -> Any:
    """Train (or resume training) the SAE for `layer`; returns the trained TopKTrainingSAE."""
    import torch
    from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.config import SAETrainerConfig
    from sae_lens.training.sae_trainer import SAETrainer
    from safetensors.torch import load_file, save_file

    torch.manual_seed(recipe.seed + layer)
    data = load_shards(act_dir, layer, recipe.n_tokens)
    cfg = TopKTrainingSAEConfig(
        d_in=int(data.shape[1]),
        d_sae=recipe.d_sae,
        k=recipe.k,
        aux_loss_coefficient=recipe.aux_loss_coefficient,
        normalize_activations="expected_average_only_in",
    )
    cfg.metadata.hook_name = f"model.layers.{layer}"
    cfg.metadata.model_name = model_name
    cfg.metadata.context_size = recipe.context
    cfg.metadata.seqpos_slice = (1, None)  # position 0 excluded (attention-sink outlier)
    sae = TopKTrainingSAE(cfg)
    steps = recipe.total_samples // recipe.batch_size
    ckpt_root = work_dir / f"checkpoints_{recipe.recipe_id}_L{layer}"
    trainer_cfg = SAETrainerConfig(
        total_training_samples=recipe.total_samples,
        train_batch_size_samples=recipe.batch_size,
        lr=recipe.lr,
        lr_end=0.0,
        lr_warm_up_steps=recipe.lr_warm_up_steps,
        lr_decay_steps=int(steps * recipe.lr_decay_fraction),
        dead_feature_window=recipe.dead_feature_window,
        feature_sampling_window=max(1, steps // 10),
        n_checkpoints=max(0, recipe.total_samples // recipe.checkpoint_every),
        checkpoint_path=str(ckpt_root),
        n_batches_for_norm_estimate=20,
    )

    def keep_raw_state(checkpoint_path: Path | None) -> None:
        # sae-lens's checkpoint weights are processed for saving; the raw state pairs exactly with the Adam state.
        if checkpoint_path is not None:
            save_file({k: v.contiguous() for k, v in sae.state_dict().items()}, str(checkpoint_path / "raw.st"))
            (checkpoint_path / "complete").touch()

    resume = _latest_checkpoint(ckpt_root)
    start = 0
    if resume is not None:
        sae.load_state_dict(load_file(str(resume / "raw.st")))
    provider_box: list[Iterator[Any]] = []
    trainer = SAETrainer(
        cfg=trainer_cfg, sae=sae, data_provider=_Deferred(provider_box), save_checkpoint_fn=keep_raw_state
    )
    if resume is not None:
        trainer.load_trainer_state(resume)
        start = trainer.n_training_samples
        trainer.checkpoint_thresholds = [t for t in trainer.checkpoint_thresholds if t > start]
        log.info("layer %d: resuming from %s at %d samples", layer, resume.name, start)
    else:
        _initialise(trainer, sae, data, recipe)
    provider_box.append(batches(data, recipe.batch_size, recipe.seed + layer, start))
    return trainer.fit()


def _initialise(trainer: Any, sae: Any, data: Any, recipe: TrainingRecipe) -> None:
    """Set the input scaling (sqrt(d_in) / mean norm, as sae-lens would estimate it) and b_dec to the data mean.

    The scaler is set here rather than estimated inside `fit()` because b_dec lives in the scaled space.
    """
    import torch

    sample = data[torch.randperm(data.shape[0], generator=torch.Generator().manual_seed(recipe.seed))[:50_000]]
    sample = sample.float()
    scale = float(sample.shape[1] ** 0.5 / sample.norm(dim=-1).mean())
    trainer.activation_scaler.scaling_factor = scale
    if recipe.b_dec_init == "mean":
        with torch.no_grad():
            sae.b_dec.data = (sample.mean(dim=0) * scale).to(sae.b_dec.dtype)


class _Deferred:
    """An iterator whose source is set after the trainer exists (the resume point is known only then)."""

    def __init__(self, box: list[Iterator[Any]]) -> None:
        self._box = box

    def __iter__(self) -> _Deferred:
        return self

    def __next__(self) -> Any:
        return next(self._box[0])


def _latest_checkpoint(root: Path) -> Path | None:
    done = [p for p in root.glob("*") if (p / "complete").is_file() and p.name.isdigit()] if root.is_dir() else []
    return max(done, key=lambda p: int(p.name)) if done else None


# -- STEP 3 ----------------------------------------------------------------------------------------------------
def export_sae(trained: Any, out_dir: Path, recipe: TrainingRecipe, info: dict[str, Any]) -> Path:
    """Save the inference SAE as float16 sae-lens folder plus `training.json` (recipe, seed, corpus, timings)."""
    import tempfile

    import torch
    from sae_lens import SAE

    with tempfile.TemporaryDirectory() as tmp:
        trained.save_inference_model(tmp)
        sae = SAE.load_from_disk(tmp, device="cpu")
    sae = sae.to(torch.float16)
    sae.cfg.dtype = "float16"
    out_dir.mkdir(parents=True, exist_ok=True)
    sae.save_model(str(out_dir))
    record = {"recipe": asdict(recipe), **info}
    (out_dir / "training.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return out_dir
