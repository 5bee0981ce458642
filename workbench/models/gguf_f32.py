"""A float32 copy of a quantised GGUF, for the `llama.cpp-f32` backend.

llama.cpp multiplies Q4/Q5/Q8 weights by activations it has first rounded to 8 bits (the `vec_dot_type` of those
quantisations), and keeps its KV cache in float16. On the embedded SmolLM2 that moves logits by up to ~1.4
against the torch backend, which multiplies the same weights dequantised to float32; a 135M model has many
near-ties, so greedy texts part within 16 tokens on most prompts. Dequantised to float32 (with gguf-py, the
same dequantisation transformers uses for the torch backend) and run with a float32 KV cache and no flash
attention, llama.cpp computes the same numbers as torch: measured, every logit within 1e-3 and all greedy
tokens equal. The copy is four to eight times the size of a 4-bit file, so it is a choice for checking a result
across backends, not the default.

The copy lives in the cache folder under the source's sha256, is written atomically, and is reused.
"""

from __future__ import annotations

from pathlib import Path

from workbench.cancel import CancelToken, check
from workbench.errors import ModelLoadError
from workbench.hashing import file_sha256
from workbench.paths import cache_dir
from workbench.progress import Progress, ProgressCallback, ignore_progress

# Stored as-is: already float32, or not a weight matrix llama.cpp quantises activations for.
_KEEP = ("F32",)


def f32_copy_path(source: Path) -> Path:
    return cache_dir() / "models" / f"{source.stem}-f32-{file_sha256(source)[:16]}.gguf"


def f32_copy(source: Path, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None) -> Path:
    """The float32 copy of `source` (made on first use: a few seconds per 100 MB of 4-bit weights)."""
    target = f32_copy_path(source)
    if target.is_file():
        return target
    try:
        import numpy as np
        from gguf import GGUFReader, GGUFValueType, GGUFWriter
        from gguf.quants import dequantize
    except ImportError as exc:  # gguf-py comes with transformers' GGUF support; say what is missing
        raise ModelLoadError(f"the llama.cpp-f32 backend needs the gguf package: {exc}") from exc
    try:
        reader = GGUFReader(source)
    except (ValueError, OSError) as exc:
        raise ModelLoadError(f"cannot read GGUF file {source}: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    writer = GGUFWriter(tmp, str(reader.fields["general.architecture"].contents()))
    try:
        for name, field in reader.fields.items():
            # The writer writes the header fields and the architecture itself; the file type now says F32.
            if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
                continue
            kind = field.types[0]
            sub = field.types[-1] if kind == GGUFValueType.ARRAY else None
            writer.add_key_value(name, field.contents(), kind, sub_type=sub)
        writer.add_file_type(0)  # LLAMA_FTYPE_ALL_F32
        n = len(reader.tensors)
        for i, tensor in enumerate(reader.tensors):
            check(cancel)
            progress(Progress(f"dequantising {source.name} to float32 ({tensor.name})", i, n))
            data = tensor.data
            if tensor.tensor_type.name not in _KEEP:
                data = dequantize(data, tensor.tensor_type)
            shape = [int(d) for d in reversed(tensor.shape)]  # gguf-py lists dimensions fastest-first
            writer.add_tensor(tensor.name, np.ascontiguousarray(data, dtype=np.float32).reshape(shape))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.replace(target)
    except BaseException as exc:
        writer.close()
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ModelLoadError(f"cannot write the float32 copy of {source.name} to {target}: {exc}") from exc
        raise
    return target
