"""The llama.cpp backend: a GGUF model steered with control vectors, through llama-cpp-python.

- Add edits (SAE features or raw vectors) of a pane become one control vector per position scope
  (models/control_vector.py). Clamp and ablate depend on each token's activation and have no constant form:
  `capabilities.modes` is {add}.
- One pane: its own context, with the vector set by `llama_set_adapter_cvec` (llama.cpp adds it to `l_out-L`,
  the residual our torch hooks steer; no graph callback, so steering costs nothing over bare llama.cpp).
- 2+ panes on the CPU: sequences of one context, one batch per step, each row's vector added to `l_out-L` by a
  graph callback (llamacpp_batch.py, where the figures are). With layers on a GPU the tensors are not in host
  memory: a context per pane, stepped together. Either way every pane streams at every token and a cancel
  stops all of them at the same step, and the tokens are the same bit for bit.
- Decoding reuses the torch backend's loop and sampler (generation.py, sampling.py): the same token events,
  the same seed → token rule, greedy = argmax of the same logits.
- Capture (residuals, logits, splices) runs on a separate unsteered context with a graph callback
  (llamacpp_capture.py); the logit lens reads the output matrix from the GGUF with the `gguf` package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError, ModelLoadError
from workbench.models.edits import EditMode, ResidualEdits
from workbench.models.generation import GenerationRun
from workbench.models.llamacpp_batch import (
    MAX_SEQUENCES,
    BatchDeltas,
    PaneBatch,
    pane_vectors,
    segments,
    ubatch_layout,
)
from workbench.models.llamacpp_capture import CaptureContext
from workbench.models.llamacpp_native import NativeContext, NativeModel, check_gguf_file, gguf_architecture
from workbench.models.protocol import (
    Capabilities,
    ForwardPass,
    ModelInfo,
    ResidualSplice,
    check_layers,
    check_prompt,
    forward_each,
)
from workbench.models.sampling import SamplingSettings
from workbench.models.spec import EMBEDDED_NAME, ModelSource, ModelSpec
from workbench.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    import torch

BACKEND_NAME = "llama.cpp"
F32_BACKEND_NAME = "llama.cpp-f32"  # the same, on a float32 copy of the weights (models/gguf_f32.py)
LLAMACPP_CAPABILITIES = Capabilities(modes=frozenset({EditMode.ADD}), capture=True, batched=False)
# Architectures whose llama.cpp graph names the block output `l_out-L` after adding the control vector, with a
# Llama-style final RMS norm and output matrix (what the logit lens assumes).
SUPPORTED_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3")


def default_threads() -> int:
    """One thread per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class LlamaCppBackend:
    """A GGUF model in llama.cpp: generation contexts (one per pane, reused) and a capture context."""

    capabilities = LLAMACPP_CAPABILITIES
    forward_batch = forward_each  # one row at a time: the capture context decodes one sequence

    def __init__(self, native: NativeModel, info: ModelInfo, n_threads: int) -> None:
        self.native = native
        self.info = info
        self.n_threads = n_threads
        self.eos_ids = frozenset(t for t in range(native.n_vocab) if native.lib.llama_vocab_is_eog(native.vocab, t))
        self._template = native.meta("tokenizer.chat_template")
        self._pieces: dict[int, bytes] = {}
        self._panes: list[NativeContext] = []
        self._batch: PaneBatch | None = None
        self.batch_panes = True  # 2+ panes as sequences of one context (see _batches)
        self._capture: CaptureContext | None = None
        self._head: tuple[np.ndarray, np.ndarray, float] | None = None

    @classmethod
    def load(
        cls,
        spec: ModelSpec,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        threads: int | None = None,
        f32: bool = False,
    ) -> LlamaCppBackend:
        """Load a GGUF; `f32` runs it on a float32 copy of its weights with a float32 KV cache, which computes
        what the torch backend computes (see models/gguf_f32.py), at the cost of speed and memory."""
        if spec.source not in (ModelSource.EMBEDDED, ModelSource.GGUF):
            raise ModelLoadError(
                f"the llama.cpp backend loads GGUF files only, not {spec.describe()!r}: use --backend torch"
            )
        if dtype not in ("auto", "", "float32", "fp32"):
            raise ModelLoadError("the llama.cpp backend computes in the GGUF's own types: leave dtype on auto")
        from workbench.devices import resolve_device

        target = resolve_device(device)  # where SAEs and steering tensors go, as on the torch backend
        path = Path(spec.location)
        progress(Progress(f"loading {path.name} with llama.cpp", 1, 2))
        check_gguf_file(path)
        _check_architecture(path, gguf_architecture(path))
        weights = path
        if f32:
            from workbench.models.gguf_f32 import f32_copy

            weights = f32_copy(path, progress, cancel)
        native = NativeModel.load(weights, n_gpu_layers=0, f32_cache=f32)
        gpu = target != "cpu" and bool(native.lib.llama_supports_gpu_offload())
        if gpu:  # reload with every layer on the GPU llama.cpp was built for
            native.close()
            native = NativeModel.load(weights, n_gpu_layers=-1, f32_cache=f32)
        try:
            info = _model_info(native, spec, path, target if gpu else "cpu", f32)
            check(cancel)
        except BaseException:
            native.close()
            raise
        progress(Progress("ready", 2, 2))
        return cls(native, info, threads or default_threads())

    # -- text -----------------------------------------------------------------------------------------------
    def encode_prompt(self, text: str, chat: bool) -> list[int]:
        if not chat:
            return self.native.tokenize(text, add_special=True, parse_special=False)
        if not self._template:
            raise InputError(f"{self.info.name} has no chat template: use raw mode")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        special = {k: self._piece_text(self._special_id(k)) for k in ("bos", "eos")}
        formatter = Jinja2ChatFormatter(self._template, eos_token=special["eos"], bos_token=special["bos"])
        rendered = formatter(messages=[{"role": "user", "content": text}]).prompt
        return self.native.tokenize(rendered, add_special=False, parse_special=True)

    def encode_text(self, text: str) -> list[int]:
        return self.native.tokenize(text, add_special=False, parse_special=False)

    def decode(self, token_ids: Sequence[int]) -> str:
        return b"".join(self._piece(int(t)) for t in token_ids).decode("utf-8", "replace")

    def token_strings(self, token_ids: Sequence[int]) -> list[str]:
        return [self._piece(int(t)).decode("utf-8", "replace") for t in token_ids]

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self.native.piece(token)
        return piece

    def _special_id(self, which: str) -> int:
        return int(getattr(self.native.lib, f"llama_vocab_{which}")(self.native.vocab))

    def _piece_text(self, token: int) -> str:
        return self.native.piece(token, special=True).decode("utf-8", "replace") if token >= 0 else ""

    # -- generation -----------------------------------------------------------------------------------------
    def generate(
        self,
        prompt_ids: Sequence[int],
        plan: ResidualEdits,
        settings: SamplingSettings,
        cancel: CancelToken | None = None,
    ) -> GenerationRun:
        check_prompt(self.info, prompt_ids, settings.max_new_tokens)
        prompt_len = len(prompt_ids)
        vectors = pane_vectors(plan, self.info.n_layers, self.info.d_model)  # layer 0, a wrong width: an error now
        n_ctx = prompt_len + settings.max_new_tokens + 1
        batched = self._batches(plan.n_rows)
        deltas = BatchDeltas(vectors, self.info.d_model) if batched else None

        def new_cache() -> PaneBatch | list[NativeContext]:
            return self._pane_batch(plan.n_rows, n_ctx) if batched else self._pane_contexts(plan.n_rows, n_ctx)

        def forward(ids: torch.Tensor, start: int, cache: object) -> torch.Tensor:
            import torch

            tokens = ids.tolist()
            length = len(tokens[0])
            if isinstance(cache, PaneBatch):
                assert deltas is not None
                layouts = [ubatch_layout(start, length, prompt_len, v) for v in vectors] if length > 1 else []
                logits = cache.decode(tokens, start, deltas.chunk(start, length, prompt_len), layouts)
            else:
                panes: list[NativeContext] = cache  # type: ignore[assignment]  # what new_cache returned
                logits = np.empty((len(panes), self.native.n_vocab), dtype=np.float32)
                for row, ctx in enumerate(panes):
                    for lo, hi, vector in segments(start, length, prompt_len, vectors[row]):
                        ctx.set_vector(vector)
                        ctx.decode(tokens[row][lo:hi], start + lo)
                    logits[row] = ctx.last_logits()
            plan.count_positions(start, length, prompt_len)
            return torch.from_numpy(logits)

        return GenerationRun(
            prompt_ids=list(prompt_ids),
            plan=plan,
            settings=settings,
            forward=forward,
            new_cache=new_cache,
            decode=self.decode,
            eos_ids=self.eos_ids,
            device="cpu",
            cancel=cancel,
        )

    def _batches(self, rows: int) -> bool:
        """Whether `rows` panes run as sequences of one context (llamacpp_batch.py): 2+ panes, weights in host
        memory (the callback writes the residual there), and not turned off (`batch_panes`: the bench and tests
        compare with a context per pane). One pane keeps llama.cpp's own control vector."""
        return self.batch_panes and 2 <= rows <= MAX_SEQUENCES and self.native.n_gpu_layers == 0

    def _pane_batch(self, rows: int, n_ctx: int) -> PaneBatch:
        """A cleared context with `rows` sequences of at least `n_ctx` positions each, reused when it has room."""
        batch = self._batch
        if batch is None or batch.rows < rows or batch.n_ctx_seq < n_ctx:
            if batch is not None:
                batch.close()
            size = max(n_ctx, batch.n_ctx_seq if batch else 0, 1024)
            batch = self._batch = PaneBatch(self.native, max(rows, batch.rows if batch else 0), size, self.n_threads)
        batch.clear()
        return batch

    def _pane_contexts(self, rows: int, n_ctx: int) -> list[NativeContext]:
        """`rows` cleared contexts holding at least `n_ctx` positions, reusing the ones from earlier runs."""
        for i, ctx in enumerate(self._panes):
            if ctx.n_ctx < n_ctx:
                ctx.close()
                self._panes[i] = NativeContext(self.native, max(n_ctx, 1024), self.n_threads)
        while len(self._panes) < rows:
            self._panes.append(NativeContext(self.native, max(n_ctx, 1024), self.n_threads))
        chosen = self._panes[:rows]
        for ctx in chosen:
            ctx.clear()
        return chosen

    # -- capture --------------------------------------------------------------------------------------------
    def residuals(
        self, token_ids: Sequence[int], layers: Sequence[int], cancel: CancelToken | None = None
    ) -> dict[int, np.ndarray]:
        check_layers(self.info, layers)
        return self._capturer().run(token_ids, layers, cancel=cancel)[1]

    def residual_batch(
        self, rows: Sequence[Sequence[int]], layers: Sequence[int], cancel: CancelToken | None = None
    ) -> dict[int, np.ndarray]:
        check_layers(self.info, layers)
        each = [self.residuals(r, layers, cancel) for r in rows]
        return {layer: np.stack([e[layer] for e in each]) for layer in layers}

    def forward(
        self,
        token_ids: Sequence[int],
        capture: Sequence[int] = (),
        splice: ResidualSplice | None = None,
        cancel: CancelToken | None = None,
    ) -> ForwardPass:
        check_layers(self.info, [*capture, *([splice.layer] if splice else [])])
        logits, residuals = self._capturer().run(token_ids, capture, splice, logits=True, cancel=cancel)
        assert logits is not None
        return ForwardPass(logits=logits, residuals=residuals)

    def unembed(self, directions: np.ndarray, normalize: bool = False) -> np.ndarray:
        weight, gain, eps = self._output_head()
        x = np.asarray(directions, dtype=np.float32)
        if normalize:
            x = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
        return np.asarray((x * gain) @ weight.T, dtype=np.float32)

    def _capturer(self) -> CaptureContext:
        if self._capture is None:
            self._capture = CaptureContext(self.native, self.n_threads)
        return self._capture

    def _output_head(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(output matrix (vocab, d) float32, final norm gain (d,), norm epsilon), dequantised from the GGUF."""
        if self._head is None:
            import gguf
            from gguf.quants import dequantize

            reader = gguf.GGUFReader(self.info.path)
            tensors = {t.name: t for t in reader.tensors}
            out = tensors.get("output.weight") or tensors["token_embd.weight"]  # tied embeddings: no output.weight
            weight = dequantize(out.data, out.tensor_type).reshape(self.info.vocab_size, self.info.d_model)
            norm = tensors["output_norm.weight"]
            gain = dequantize(norm.data, norm.tensor_type).reshape(self.info.d_model)
            eps = float(self.native.meta(f"{self.info.architecture}.attention.layer_norm_rms_epsilon") or 1e-5)
            self._head = (weight.astype(np.float32), gain.astype(np.float32), eps)
        return self._head

    def close(self) -> None:
        """Free every context, then the model (llama.cpp objects left to the interpreter's exit crash there)."""
        for ctx in self._panes:
            ctx.close()
        self._panes = []
        if self._batch is not None:
            self._batch.close()
            self._batch = None
        if self._capture is not None:
            self._capture.close()
            self._capture = None
        self.native.close()


def _check_architecture(path: Path, architecture: str | None) -> None:
    if architecture is not None and architecture not in SUPPORTED_ARCHITECTURES:
        raise ModelLoadError(
            f"{path.name}: GGUF architecture {architecture!r} is not supported by the llama.cpp backend "
            f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)}; other models load with --backend torch)"
        )


if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend

    _IMPLEMENTS: type[ModelBackend] = LlamaCppBackend  # mypy checks the class against the protocol here


# The `llama.cpp-f32` backend's loader: llama.cpp on a float32 copy of the weights (models/gguf_f32.py).
load_f32 = partial(LlamaCppBackend.load, f32=True)


def _model_info(native: NativeModel, spec: ModelSpec, path: Path, device: str, f32: bool) -> ModelInfo:
    architecture = native.meta("general.architecture") or "?"
    _check_architecture(path, architecture)
    lib = native.lib
    eos = int(lib.llama_vocab_eos(native.vocab))
    return ModelInfo(
        name=EMBEDDED_NAME if spec.source is ModelSource.EMBEDDED else (native.meta("general.name") or path.stem),
        path=str(path),  # the GGUF the user chose, also for f32 (its copy is derived from it)
        source=spec.describe(),
        device=device,
        dtype="float32",  # activations and steering vectors; the weights keep the GGUF's quantisation unless f32
        n_layers=native.n_layers,
        d_model=native.n_embd,
        vocab_size=native.n_vocab,
        has_chat_template=bool(native.meta("tokenizer.chat_template")),
        parameters=int(lib.llama_model_n_params(native.model)),
        memory_bytes=int(lib.llama_model_size(native.model)),
        architecture=architecture,
        eos_token_id=eos if eos >= 0 else None,
        context_length=int(lib.llama_model_n_ctx_train(native.model)) or None,
        backend=F32_BACKEND_NAME if f32 else BACKEND_NAME,
    )
