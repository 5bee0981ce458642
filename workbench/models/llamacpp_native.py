"""Thin, typed access to the llama.cpp C API that the llama.cpp backend needs, through llama-cpp-python's
ctypes bindings (0.3.x): the model and its contexts, token pieces, decoding a chunk, control vectors, and the
few ggml tensor calls the activation capture reads tensors with.

We use the low-level API rather than `llama_cpp.Llama`: we own every context (the panes', one for capture),
decide which positions get logits, and set control vectors between chunks of one sequence.
"""

from __future__ import annotations

import ctypes
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from workbench.errors import ModelLoadError, SteeringError

# Tokens per ubatch: llama.cpp splits a longer decode call into ubatches of this many, and its CPU attention
# kernel depends on the tokens of a sequence in one ubatch (llamacpp_batch.py keeps to the same splits).
N_UBATCH = 512
_recent_log: deque[str] = deque(maxlen=20)
_log_callback: Any = None  # the ctypes callback must outlive every llama.cpp call
_ggml: Any = None


def llama_cpp_module() -> ModuleType:
    """llama_cpp, with its log silenced (kept for error messages); a clear error when it is not installed."""
    global _log_callback
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelLoadError(
            f"llama-cpp-python is not installed ({exc}): pip install llama-cpp-python==0.3.36, or use --backend torch"
        ) from exc
    if _log_callback is None:

        def keep(_level: int, text: bytes, _user: Any) -> None:
            line = text.decode("utf-8", "replace").strip()
            if line:
                _recent_log.append(line)

        _log_callback = llama_cpp.llama_log_callback(keep)
        llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
    return llama_cpp


def last_log_error() -> str:
    """The last error-looking line llama.cpp logged (why a load failed), or ''."""
    for line in reversed(_recent_log):
        if any(word in line.lower() for word in ("error", "fail", "invalid", "corrupt", "bounds", "unknown")):
            return line[:300]
    return ""


def ggml() -> Any:
    """The ggml base library, for reading and writing tensors inside the capture callback."""
    global _ggml
    if _ggml is None:
        llama_cpp = llama_cpp_module()
        from llama_cpp._ctypes_extensions import load_shared_library

        lib = load_shared_library("ggml-base", Path(str(llama_cpp.__file__)).parent / "lib")
        lib.ggml_get_name.restype = ctypes.c_char_p
        lib.ggml_get_name.argtypes = [ctypes.c_void_p]
        lib.ggml_nelements.restype = ctypes.c_int64
        lib.ggml_nelements.argtypes = [ctypes.c_void_p]
        lib.ggml_nbytes.restype = ctypes.c_size_t
        lib.ggml_nbytes.argtypes = [ctypes.c_void_p]
        for name in ("ggml_backend_tensor_get", "ggml_backend_tensor_set"):
            fn = getattr(lib, name)
            fn.restype = None
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
        _ggml = lib
    return _ggml


def check_gguf_file(path: Path) -> None:
    """One line for a file that cannot be a GGUF model, before llama.cpp reads it."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelLoadError(f"could not read GGUF file {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise ModelLoadError(f"GGUF file {path} is empty (0 bytes)")
    if magic != b"GGUF":
        raise ModelLoadError(f"{path} is not a GGUF file (it does not start with the GGUF magic bytes)")


def gguf_architecture(path: Path) -> str | None:
    """`general.architecture` read from the GGUF header alone (models/gguf_header.py; gguf.GGUFReader parses the
    whole vocabulary, seconds for a small model); None when the header cannot be read (llama.cpp then says why):
    a garbled length or count ends the read instead of allocating or looping on a number it never held."""
    from workbench.models.gguf_header import read_gguf_header

    try:
        header = read_gguf_header(path, keys=("general.architecture",))
    except (OSError, ValueError):
        return None
    value = header.metadata.get("general.architecture")
    return value if isinstance(value, str) else None


@dataclass
class NativeModel:
    """A loaded llama_model and its vocabulary; `close` frees it (after its contexts)."""

    lib: ModuleType
    model: Any
    vocab: Any
    n_layers: int
    n_embd: int
    n_vocab: int
    # Contexts keep K and V in float32 without flash attention (the llama.cpp-f32 backend, models/gguf_f32.py),
    # instead of llama.cpp's float16 cache: the attention then computes what the torch backend computes.
    f32_cache: bool = False
    n_gpu_layers: int = 0  # layers offloaded to a GPU: their tensors are not in host memory

    @classmethod
    def load(cls, path: Path, n_gpu_layers: int, f32_cache: bool = False) -> NativeModel:
        lib = llama_cpp_module()
        check_gguf_file(path)
        params = lib.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        _recent_log.clear()
        model = lib.llama_model_load_from_file(str(path).encode("utf-8"), params)
        if not model:
            why = last_log_error()
            raise ModelLoadError(
                f"llama.cpp could not load GGUF file {path} (truncated or corrupt?)" + (f": {why}" if why else "")
            )
        vocab = lib.llama_model_get_vocab(model)
        return cls(
            lib=lib,
            model=model,
            vocab=vocab,
            n_layers=int(lib.llama_model_n_layer(model)),
            n_embd=int(lib.llama_model_n_embd(model)),
            n_vocab=int(lib.llama_vocab_n_tokens(vocab)),
            f32_cache=f32_cache,
            n_gpu_layers=n_gpu_layers,
        )

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = self.lib.llama_model_meta_val_str(self.model, key.encode("utf-8"), buf, len(buf))
        if n < 0:
            return None
        if n >= len(buf):  # a long value (a chat template): read it again with room for all of it
            buf = ctypes.create_string_buffer(n + 1)
            self.lib.llama_model_meta_val_str(self.model, key.encode("utf-8"), buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    def tokenize(self, text: str, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        size = len(data) + 8
        for _ in range(2):
            out = (ctypes.c_int32 * size)()
            n = self.lib.llama_tokenize(self.vocab, data, len(data), out, size, add_special, parse_special)
            if n >= 0:
                return list(out[:n])
            size = -n
        raise ModelLoadError(f"llama.cpp could not tokenize a text of {len(data)} bytes")

    def piece(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self.lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def close(self) -> None:
        if self.model:
            self.lib.llama_model_free(self.model)
            self.model = None


def new_context(
    model: NativeModel, n_ctx: int, n_batch: int, n_ubatch: int, n_threads: int, n_seq_max: int, cb_eval: Any
) -> Any:
    """A llama_context on `model`; with several sequences each has its own KV stream of n_ctx / n_seq_max cells
    (not one unified cache: see llamacpp_batch.py for why)."""
    lib = model.lib
    params = lib.llama_context_default_params()
    params.n_ctx = n_ctx
    params.n_batch = n_batch
    params.n_ubatch = n_ubatch
    params.n_seq_max = n_seq_max
    params.kv_unified = False
    params.n_threads = n_threads
    params.n_threads_batch = n_threads
    params.no_perf = True
    if model.f32_cache:
        params.type_k = params.type_v = lib.GGML_TYPE_F32
        params.flash_attn_type = lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
    if cb_eval is not None:
        params.cb_eval = cb_eval
        params.cb_eval_user_data = None
    ctx = lib.llama_init_from_model(model.model, params)
    if not ctx:
        raise ModelLoadError(f"llama.cpp could not create a context of {n_ctx} tokens: {last_log_error()}")
    return ctx


class NativeContext:
    """One llama_context (its own KV cache and control vector) with a token batch to decode chunks through."""

    def __init__(self, model: NativeModel, n_ctx: int, n_threads: int, cb_eval: Any = None) -> None:
        lib = model.lib
        ctx = new_context(model, n_ctx, n_ctx, min(n_ctx, N_UBATCH), n_threads, 1, cb_eval)
        self.lib, self.model, self.ctx, self.n_ctx = lib, model, ctx, n_ctx
        self.batch = lib.llama_batch_init(n_ctx, 0, 1)
        self.vector: np.ndarray | None = None  # the control vector set now (None: none)

    def clear(self) -> None:
        """Forget every position (a new sequence starts at 0) and drop the control vector."""
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)
        self.set_vector(None)

    def set_vector(self, vector: np.ndarray | None) -> None:
        """Set (or clear, with None) the control vector: a flat buffer from `control_vector`."""
        if vector is self.vector:
            return
        m = self.model
        if vector is None:
            rc = self.lib.llama_set_adapter_cvec(self.ctx, None, 0, m.n_embd, -1, -1)
        else:
            ptr = vector.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            rc = self.lib.llama_set_adapter_cvec(self.ctx, ptr, vector.size, m.n_embd, 1, m.n_layers - 1)
        if rc != 0:
            raise SteeringError(f"llama.cpp refused the control vector (code {rc})")
        self.vector = vector

    def decode(self, tokens: list[int], start: int, all_logits: bool = False) -> None:
        """Evaluate `tokens` at positions start…; logits for the last one (or every one with `all_logits`)."""
        n = len(tokens)
        b = self.batch
        for i, token in enumerate(tokens):
            b.token[i] = token
            b.pos[i] = start + i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = all_logits
        b.logits[n - 1] = True
        b.n_tokens = n
        rc = self.lib.llama_decode(self.ctx, b)
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def last_logits(self) -> np.ndarray:
        """Next-token logits of the last decoded position (a view into llama.cpp's buffer: copy it)."""
        ptr = self.lib.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.model.n_vocab,))

    def all_logits(self, n: int) -> np.ndarray:
        ptr = self.lib.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(ptr, shape=(n, self.model.n_vocab)).copy()

    def close(self) -> None:
        if self.ctx:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.ctx = None
