"""Will the model fit? An estimate before loading, against the free memory of the device it would load on.

A model bigger than the free memory does not fail cleanly: the operating system kills the process (the window's
model process ends; the CLI dies without a word) or swaps until nothing responds. So a load is refused first, in
one line that names both numbers and the ways out, unless the user overrides it (`--ignore-memory-check`, or
Load anyway in the window).

The estimate: the weights (parameters × bytes of the dtype; for llama.cpp the GGUF file as stored), plus the work
of PANES panes of CONTEXT_TOKENS tokens each: their KV cache, one block's activations, the attention scores of a
pane and the float32 logits of every token (analyses score every position). The shape comes from the files'
headers alone (safetensors and GGUF headers, config.json): nothing is read into memory. Where the size or the free
memory cannot be known (a hub model not downloaded yet, a GPU llama.cpp decides about), nothing is refused.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ModelLoadError
from workbench.models.gguf_header import read_gguf_header
from workbench.models.spec import ModelSource, ModelSpec

PANES = 4  # the baseline and three steered variants, one batch
CONTEXT_TOKENS = 1024  # a prompt and what is generated after it
BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
REFUSAL = "not enough memory"  # every refusal starts with it: the window offers Load anyway for these
OVERRIDE = "--ignore-memory-check; in the window: Load anyway"


@dataclass(frozen=True)
class ModelShape:
    parameters: int
    n_layers: int
    d_model: int
    d_ff: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int


@dataclass(frozen=True)
class Estimate:
    weights: int  # bytes
    working: int  # bytes: KV cache and activations for PANES × CONTEXT_TOKENS

    @property
    def total(self) -> int:
        return self.weights + self.working


def estimate(shape: ModelShape, weight_bytes: int, act_bytes: int, kv_bytes: int | None = None) -> Estimate:
    """What loading and running the model takes: `weight_bytes` for all the weights, activations of `act_bytes`
    per number, the KV cache of `kv_bytes` (default: `act_bytes`)."""
    tokens = PANES * CONTEXT_TOKENS
    kv = 2 * shape.n_layers * shape.n_kv_heads * shape.head_dim * tokens * (kv_bytes or act_bytes)
    block = tokens * (4 * shape.d_model + 3 * shape.d_ff) * act_bytes  # residual, q/k/v/o, the MLP's three
    scores = shape.n_heads * CONTEXT_TOKENS * CONTEXT_TOKENS * act_bytes  # one pane's attention at a time
    logits = tokens * shape.vocab * 4
    return Estimate(weight_bytes, kv + block + scores + logits)


def refusal(need: Estimate, free: int, where: str, what: str, options: list[str]) -> str:
    """The one line that refuses a load: both numbers, then the ways out."""
    ways = ", ".join([*options, f"or load anyway ({OVERRIDE})"])
    return (
        f"{REFUSAL} on {where}: the model needs about {gib(need.total)} ({what}: {gib(need.weights)}, plus "
        f"{gib(need.working)} for {PANES} panes of {CONTEXT_TOKENS} tokens) but {where} has {gib(free)} free; "
        f"try {ways}"
    )


def is_memory_refusal(message: str) -> bool:
    return message.startswith(REFUSAL)


def check_fits(need: Estimate, free: int | None, where: str, what: str, options: list[str]) -> None:
    """Refuse with one line when `need` is more than `free` bytes (None: not known, nothing refused)."""
    if free is not None and need.total > free:
        raise ModelLoadError(refusal(need, free, where, what, options))


def gib(n: int) -> str:
    if n >= 2**28:
        return f"{n / 2**30:.2f} GiB"
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


# -- the model's shape, from headers ---------------------------------------------------------------------------
def shape_from_config(config: Mapping[str, Any], parameters: int | None = None) -> ModelShape:
    """A Llama-family config.json (the text model's, for a model with a `text_config`); `parameters` from the
    weights' headers where known, else counted from the config."""
    c = config.get("text_config") or config
    d_model, n_layers = int(c["hidden_size"]), int(c["num_hidden_layers"])
    n_heads = int(c["num_attention_heads"])
    n_kv = int(c.get("num_key_value_heads") or n_heads)
    head_dim = int(c.get("head_dim") or d_model // n_heads)
    d_ff, vocab = int(c.get("intermediate_size") or 4 * d_model), int(c["vocab_size"])
    if parameters is None:
        attention = d_model * head_dim * (2 * n_heads + 2 * n_kv)
        embeddings = vocab * d_model * (1 if c.get("tie_word_embeddings", False) else 2)
        parameters = n_layers * (attention + 3 * d_model * d_ff + 2 * d_model) + embeddings + d_model
    return ModelShape(parameters, n_layers, d_model, d_ff, n_heads, n_kv, head_dim, vocab)


def safetensors_parameters(folder: Path) -> int | None:
    """The number of weights in a folder's safetensors files, from their JSON headers (None: no such files)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with path.open("rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
        for name, entry in header.items():
            if name != "__metadata__":
                total += _product(entry["shape"])
    return total


def shape_from_gguf(path: Path) -> ModelShape:
    """From the GGUF's metadata and tensor index (models/gguf_header.py: bounds-checked, a garbled header is a
    GgufHeaderError, which `model_shape` takes as "size unknown")."""
    header = read_gguf_header(path, tensors=True)
    meta, parameters = header.metadata, header.parameters or 0
    arch = str(meta.get("general.architecture", "llama"))

    def number(key: str, default: int | None = None) -> int:
        value = meta.get(f"{arch}.{key}", default)
        if value is None:
            raise ModelLoadError(f"{path} does not say its {key} ({arch}.{key})")
        return int(value)

    d_model, n_heads = number("embedding_length"), number("attention.head_count")
    vocab = int(meta.get(f"{arch}.vocab_size") or meta.get("tokenizer.ggml.tokens") or 0)
    return ModelShape(
        parameters,
        number("block_count"),
        d_model,
        number("feed_forward_length", 4 * d_model),
        n_heads,
        number("attention.head_count_kv", n_heads),
        number("attention.key_length", d_model // n_heads),
        vocab,
    )


def _product(dims: Any) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


# -- free memory --------------------------------------------------------------------------------------------
def free_bytes(device: str) -> int | None:
    """What `device` ("cpu", "cuda", "cuda:N", "mps") has free now; None when it cannot be asked."""
    if device == "cpu":
        return _free_cpu()
    import torch

    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or torch.cuda.current_device())
        free, _total = torch.cuda.mem_get_info(index)
        return int(free)
    if device == "mps":
        mps: Any = getattr(torch, "mps", None)
        if mps is None or not hasattr(mps, "recommended_max_memory"):
            return None
        return int(mps.recommended_max_memory() - mps.driver_allocated_memory())
    return None


def _free_cpu() -> int | None:
    try:
        import psutil  # type: ignore[import-untyped]  # comes with accelerate (pinned); /proc/meminfo without it

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii")
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


FreeMemory = Callable[[str], int | None]


# -- the check before a load --------------------------------------------------------------------------------
def check_model_fits(
    spec: ModelSpec, backend: str, device: str, dtype: str, max_memory: str = "", free: FreeMemory | None = None
) -> None:
    """Refuse, with one line, to load `spec` where it will not fit (ModelLoadError); silent when it fits or when
    its size or the free memory cannot be known. `free` (device → bytes) defaults to asking the device."""
    ask: FreeMemory = free or free_bytes
    found = model_shape(spec)
    if found is None:
        return
    shape, stored = found
    if backend in ("llama.cpp", "llama.cpp-f32"):
        from workbench.devices import resolve_device

        if resolve_device(device) != "cpu":
            return  # llama.cpp itself decides how many layers go to the GPU
        if backend == "llama.cpp":  # the weights as stored, an f16 KV cache
            need = estimate(shape, stored, act_bytes=4, kv_bytes=2)
            what, options = f"{shape.parameters / 1e6:,.0f} M parameters as stored in the GGUF", []
        else:  # dequantised to float32, with a float32 KV cache
            need = estimate(shape, shape.parameters * 4, act_bytes=4)
            what, options = f"{shape.parameters / 1e6:,.0f} M parameters in float32", ["the llama.cpp backend"]
        check_fits(need, ask("cpu"), "cpu", what, [*options, "a GGUF with a smaller quantisation"])
    elif backend == "torch":
        _check_torch(spec, shape, device, dtype, max_memory, ask)


def _check_torch(spec: ModelSpec, shape: ModelShape, device: str, dtype: str, max_memory: str, ask: FreeMemory) -> None:
    import torch

    from workbench.devices import dtype_name, resolve_device, resolve_dtype
    from workbench.models.device_map import parse_max_memory, primary_device, should_spread

    limits, cuda = parse_max_memory(max_memory), torch.cuda.device_count()
    spread = should_spread(device, limits, cuda)
    target = primary_device(limits, cuda) if spread else resolve_device(device)
    name = dtype_name(resolve_dtype(dtype, target))
    size = BYTES.get(name, 4)
    need = estimate(shape, shape.parameters * size, size)
    options = ["dtype bfloat16"] if size > 2 else []
    options.append("another device")
    if spec.source in (ModelSource.EMBEDDED, ModelSource.GGUF):
        options.append("the llama.cpp backend")
    what = f"{shape.parameters / 1e6:,.0f} M parameters in {name}"
    if not spread:
        check_fits(need, ask(target), target, what, options)
        return
    devices = [f"cuda:{d}" if isinstance(d, int) else d for d in (limits or range(cuda))]
    free = [ask(d) for d in devices]
    if any(f is None for f in free):
        return
    given = [limits.get(_limit_key(d), f) for d, f in zip(devices, free, strict=True)]
    room = sum(min(int(f or 0), g or 0) for f, g in zip(free, given, strict=True))
    check_fits(need, room, " + ".join(devices), what, ["more devices or larger max memory", *options])


def _limit_key(device: str) -> int | str:
    return int(device[5:]) if device.startswith("cuda:") else device


def model_shape(spec: ModelSpec) -> tuple[ModelShape, int] | None:
    """The model's shape and the bytes of its stored weights file (GGUF; else 0), from headers alone; None when
    they cannot be read here (the loader then says what is wrong, or a hub model is not downloaded yet)."""
    try:
        if spec.source in (ModelSource.EMBEDDED, ModelSource.GGUF):
            path = Path(spec.location)
            return shape_from_gguf(path), path.stat().st_size
        folder = Path(spec.location) if spec.source is ModelSource.FOLDER else _cached_hub_folder(spec)
        if folder is None:
            return None
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return shape_from_config(config, safetensors_parameters(folder)), 0
    except (OSError, ValueError, KeyError, TypeError, struct.error, ModelLoadError):
        return None


def _cached_hub_folder(spec: ModelSpec) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(spec.location, "config.json", revision=spec.revision)
    return Path(found).parent if isinstance(found, str) else None
