"""Load a transformers causal LM from any ModelSpec, with progress and cancel between phases.

A GGUF is dequantised by transformers once (~8 s of CPU, its header read once: models/gguf_once.py) and saved
as a safetensors folder in the cache; later loads read that folder in well under 2 s. The cache folder is keyed by
the GGUF's path, size and modification time, and written atomically (temp folder, then rename), so an interrupted
conversion never leaves a half-written cache behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import startup_gc
from workbench.cancel import CancelToken
from workbench.errors import ModelLoadError
from workbench.models.device_map import MaxMemory
from workbench.models.gguf_once import shared_gguf_parse
from workbench.models.spec import EMBEDDED_NAME, ModelSource, ModelSpec
from workbench.paths import cache_dir
from workbench.progress import Progress, ProgressCallback, ignore_progress


@dataclass
class LoadedWeights:
    model: Any
    tokenizer: Any
    folder: str  # the folder the weights were read from
    name: str


def load_weights(
    spec: ModelSpec,
    dtype: Any,
    trust_remote_code: bool = False,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    spread_over: MaxMemory | None = None,
) -> LoadedWeights:
    """Read model and tokenizer for `spec` in `dtype` on the CPU (the caller moves them to the device), or, with
    `spread_over` (device → bytes; {} = what each device has free), straight onto the devices of a device map
    (models/device_map.py)."""
    cancel = cancel or CancelToken()
    if spec.source in (ModelSource.EMBEDDED, ModelSource.GGUF):
        folder = converted_gguf_folder(Path(spec.location), progress, cancel)
        name = EMBEDDED_NAME if spec.source is ModelSource.EMBEDDED else Path(spec.location).stem
    elif spec.source is ModelSource.FOLDER:
        folder, name = Path(spec.location), Path(spec.location).name
    else:
        folder, name = _from_hub(spec, progress, cancel), spec.location
    return _from_folder(folder, name, dtype, trust_remote_code, progress, cancel, spread_over)


def converted_gguf_folder(gguf: Path, progress: ProgressCallback, cancel: CancelToken) -> Path:
    """The cached safetensors folder for `gguf`, converting it first if needed."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = cache_dir() / "models" / f"{gguf.stem}-{key}"
    if (folder / "config.json").is_file():
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress(Progress("converting the GGUF file to a cached safetensors folder (first time only)", 1, 4))
    cancel.raise_if_cancelled()
    try:
        # One parse of the GGUF's header for the tokenizer, the config and the weights (models/gguf_once.py).
        with shared_gguf_parse():
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            cancel.raise_if_cancelled()
            progress(Progress("dequantising GGUF weights (first time only)", 2, 4))
            # transformers' GGUF reader draws a tqdm bar straight to stderr, which would break the CLI's
            # one-line error contract; our own progress phases report this step.
            with contextlib.redirect_stderr(io.StringIO()):
                model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"could not read GGUF file {gguf}: {exc}") from exc
    cancel.raise_if_cancelled()
    progress(Progress("saving the converted weights", 3, 4))
    # A model read from GGUF refuses to save ("quantized with gguf") until the quantizer marks are removed;
    # the weights themselves are already dequantised.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        record_added_tokens(tmp, tokenizer)
        cancel.raise_if_cancelled()
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def record_added_tokens(folder: Path, tokenizer: Any) -> None:
    """Write the added tokens into tokenizer_config.json.

    Without them transformers re-parses the whole tokenizer.json in Python (~0.3 s holding the GIL, which
    freezes the window while the model loads on the worker thread).
    """
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {
        str(index): token.__getstate__() for index, token in tokenizer.added_tokens_decoder.items()
    }
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")


def _from_folder(
    folder: Path,
    name: str,
    dtype: Any,
    trust_remote_code: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
    spread_over: MaxMemory | None = None,
) -> LoadedWeights:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from workbench.models.device_map import plan_device_map

    cancel.raise_if_cancelled()
    progress(Progress(f"loading {name}", 3, 4))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        placement: dict[str, Any] = {}
        if spread_over is not None:
            config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
            placement["device_map"] = plan_device_map(config, dtype, spread_over, trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=dtype, trust_remote_code=trust_remote_code, **placement
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"could not load the model in {folder}: {_first_line(exc)}") from exc
    startup_gc.resume()  # torch, transformers and the model are in: collect again, over a frozen heap
    return LoadedWeights(model=model, tokenizer=tokenizer, folder=str(folder), name=name)


def _from_hub(spec: ModelSpec, progress: ProgressCallback, cancel: CancelToken) -> Path:
    from huggingface_hub import snapshot_download

    cancel.raise_if_cancelled()
    progress(Progress(f"fetching {spec.describe()} from the Hugging Face hub", 1, 4))
    try:
        folder = snapshot_download(
            spec.location,
            revision=spec.revision,
            allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"],
        )
    except Exception as exc:  # offline, unknown repo, gated repo: the hub raises many kinds
        raise ModelLoadError(
            f"could not fetch {spec.describe()!r} from the Hugging Face hub (offline, or no such model?): "
            f"{_first_line(exc)}"
        ) from exc
    return Path(folder)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
