"""The transformers/torch backend: tokenize, generate with steering, capture residuals, logits, logit lens.

Its CPU speed tricks (column-major linears, the packed logits head) stay inside this module's class; callers
see only the `ModelBackend` protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken
from workbench.devices import dtype_name, resolve_device, resolve_dtype
from workbench.errors import InputError
from workbench.models.capture import padded_batch, residual_hooks
from workbench.models.device_map import (
    MaxMemory,
    block_device,
    block_devices,
    check_devices_exist,
    parse_max_memory,
    primary_device,
    should_spread,
)
from workbench.models.edits import EditMode, ResidualEdits
from workbench.models.fused_linears import prepare_blocks
from workbench.models.generation import GenerationRun
from workbench.models.hf_loader import load_weights
from workbench.models.lean_decode import LeanDecoder
from workbench.models.packed_head import LogitsHead
from workbench.models.protocol import Capabilities, ForwardPass, ModelInfo, ResidualSplice, check_layers, check_prompt
from workbench.models.sampling import SamplingSettings
from workbench.models.spec import ModelSpec
from workbench.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    import torch

# Causal-LM classes whose forward is `lm_head(model(...).last_hidden_state)`, with no logit scaling or capping.
PLAIN_HEAD_MODELS = frozenset({"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"})
HF_CAPABILITIES = Capabilities(modes=frozenset(EditMode), capture=True, batched=True)


class HFBackend:
    """A transformers causal LM with Llama-style decoder blocks at `model.model.layers`."""

    capabilities = HF_CAPABILITIES

    def __init__(self, model: Any, tokenizer: Any, name: str, path: str, source: str) -> None:

        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.blocks = _decoder_blocks(model)
        prepare_blocks(self.blocks)  # fused q|k|v and gate|up, CPU storage orders: fused_linears.py, cpu_layout.py
        param = next(model.parameters())
        self.device = block_device(model.get_input_embeddings())  # where input ids go
        self.dtype: torch.dtype = param.dtype
        layer_devices = block_devices(self.blocks)
        spread = any(d != self.device for d in layer_devices) or len(set(_device_map(model).values())) > 1
        config = model.config
        n_params = sum(p.numel() for p in model.parameters())
        self.info = ModelInfo(
            name=name,
            path=path,
            source=source,
            device=self.device,
            dtype=dtype_name(self.dtype),
            n_layers=len(self.blocks),
            d_model=int(config.hidden_size),
            vocab_size=int(config.vocab_size),
            has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
            parameters=n_params,
            memory_bytes=sum(p.numel() * p.element_size() for p in model.parameters()),
            architecture=str(getattr(config, "model_type", "") or "llama"),
            eos_token_id=int(tokenizer.eos_token_id) if tokenizer.eos_token_id is not None else None,
            context_length=getattr(config, "max_position_embeddings", None) or None,
            layer_devices=layer_devices if spread else (),
        )
        self.eos_ids = _eos_ids(model, tokenizer)
        # Our own head for batched decoding (see packed_head.py), for models whose logits are just the output
        # embedding of the last hidden state; others, and models spread over devices (accelerate's hooks move
        # tensors between their modules), keep their own forward.
        plain = type(model).__name__ in PLAIN_HEAD_MODELS and not spread
        self._head = LogitsHead(model.get_output_embeddings(), model.get_input_embeddings()) if plain else None
        # One-position decoding steps in fewer torch calls, same bits (lean_decode.py); None where it cannot.
        self._lean = LeanDecoder.install(model, self.blocks) if self._head is not None else None
        self.lean_decoding = True  # False: every step takes transformers' path (benchmarks compare the two)

    @classmethod
    def load(
        cls,
        spec: ModelSpec,
        device: str = "auto",
        dtype: str = "auto",
        trust_remote_code: bool = False,
        progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
        max_memory: str = "",
    ) -> HFBackend:
        """Load `spec` on `device`; spread over several devices with a device map when `max_memory` is given
        (`0=20GiB,1=20GiB,cpu=64GiB`) or when the device is auto and there are 2+ CUDA GPUs (device_map.py)."""
        cancel = cancel or CancelToken()
        spread_over = _spread_over(device, max_memory)
        if spread_over is not None:
            torch_dtype = resolve_dtype(dtype, primary_device(spread_over, _cuda_devices()))
            weights = load_weights(spec, torch_dtype, trust_remote_code, progress, cancel, spread_over)
            cancel.raise_if_cancelled()
            return cls(weights.model, weights.tokenizer, weights.name, weights.folder, spec.describe())
        target = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, target)
        weights = load_weights(spec, torch_dtype, trust_remote_code, progress, cancel)
        cancel.raise_if_cancelled()
        progress(Progress(f"moving the model to {target}", 4, 4))
        model = weights.model.to(device=target, dtype=torch_dtype)
        cancel.raise_if_cancelled()
        return cls(model, weights.tokenizer, weights.name, weights.folder, spec.describe())

    # -- text ---------------------------------------------------------------------------------------------
    def encode_prompt(self, text: str, chat: bool) -> list[int]:
        if chat:
            if not self.info.has_chat_template:
                raise InputError(f"{self.info.name} has no chat template: use raw mode")
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # BatchEncoding in newer transformers
                ids = ids["input_ids"]
            return [int(i) for i in ids]
        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        return [int(i) for i in ids]

    def encode_chat(self, text: str, system: str) -> list[int]:
        """A chat prompt with a system prompt (sweeps' context stress test; optional beyond the protocol)."""
        if not self.info.has_chat_template:
            raise InputError(f"{self.info.name} has no chat template: a system prompt needs one")
        messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):  # BatchEncoding in newer transformers
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def encode_text(self, text: str) -> list[int]:
        return [int(i) for i in self.tokenizer(text, add_special_tokens=False)["input_ids"]]

    def decode(self, token_ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(token_ids), skip_special_tokens=True))

    def token_strings(self, token_ids: Sequence[int]) -> list[str]:
        return [str(self.tokenizer.decode([int(i)])) for i in token_ids]

    # -- generation -----------------------------------------------------------------------------------------
    def generate(
        self,
        prompt_ids: Sequence[int],
        plan: ResidualEdits,
        settings: SamplingSettings,
        cancel: CancelToken | None = None,
    ) -> GenerationRun:
        from workbench.models.kv_cache import growing_cache  # imports transformers: only when generating

        check_prompt(self.info, prompt_ids, settings.max_new_tokens)
        prompt_len = len(prompt_ids)
        lean = self._lean if self.lean_decoding else None
        lean_usable: list[bool] = []  # decided at the run's first one-position step

        def forward(ids: torch.Tensor, start: int, cache: object) -> torch.Tensor:
            with plan.attached(self.blocks, start, prompt_len):
                if self._head is None:
                    out = self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
                    return out.logits[:, -1, :]
                if lean is not None and ids.shape[1] == 1 and not lean_usable:
                    lean_usable.append(lean.usable(cache))
                if lean is not None and ids.shape[1] == 1 and lean_usable[0]:
                    hidden = lean.hidden(ids, start, cache)
                else:
                    hidden = self.model.model(input_ids=ids, past_key_values=cache, use_cache=True).last_hidden_state
            return self._head(hidden[:, -1, :])

        return GenerationRun(
            prompt_ids=list(prompt_ids),
            plan=plan,
            settings=settings,
            forward=forward,
            new_cache=lambda: growing_cache(self.model.config, prompt_len + settings.max_new_tokens),
            decode=self.decode,
            eos_ids=self.eos_ids,
            device=self.device,
            cancel=cancel,
        )

    # -- capture --------------------------------------------------------------------------------------------
    def residuals(
        self, token_ids: Sequence[int], layers: Sequence[int], cancel: CancelToken | None = None
    ) -> dict[int, np.ndarray]:
        """Residual stream after each block in `layers` for one text, as float32 (seq, d_model) arrays."""
        batch = self.residual_batch([token_ids], layers, cancel)
        return {layer: batch[layer][0] for layer in layers}

    def residual_batch(
        self, rows: Sequence[Sequence[int]], layers: Sequence[int], cancel: CancelToken | None = None
    ) -> dict[int, np.ndarray]:
        import torch

        check_layers(self.info, layers)
        ids = torch.tensor([list(r) for r in rows], dtype=torch.long, device=self.device)
        hooks = residual_hooks(self.blocks, layers, stop_after_deepest=True, cancel=cancel)
        with torch.inference_mode(), hooks as captured:
            self.model.model(input_ids=ids, use_cache=False)
        return {layer: captured[layer].float().cpu().numpy() for layer in layers}

    def forward(
        self,
        token_ids: Sequence[int],
        capture: Sequence[int] = (),
        splice: ResidualSplice | None = None,
        cancel: CancelToken | None = None,
    ) -> ForwardPass:
        import torch

        check_layers(self.info, [*capture, *([splice.layer] if splice else [])])
        ids = torch.tensor([list(token_ids)], dtype=torch.long, device=self.device)
        with torch.inference_mode(), residual_hooks(self.blocks, capture, splice, cancel=cancel) as captured:
            logits = self.model(input_ids=ids, use_cache=False).logits
        return ForwardPass(
            logits=logits[0].float().cpu().numpy(),
            residuals={layer: captured[layer][0].float().cpu().numpy() for layer in capture},
        )

    def forward_batch(
        self, rows: Sequence[Sequence[int]], capture: Sequence[int] = (), cancel: CancelToken | None = None
    ) -> list[ForwardPass]:
        """Rows padded on the right and masked: causal attention never reads a later position, so each row's
        positions see what its own forward sees."""
        import torch

        check_layers(self.info, capture)
        ids, mask, lengths = padded_batch(rows, self.info.eos_token_id or 0, self.device)
        with torch.inference_mode(), residual_hooks(self.blocks, capture, cancel=cancel) as captured:
            logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float().cpu().numpy()
            residuals = {layer: captured[layer].float().cpu().numpy() for layer in capture}
        return [
            ForwardPass(logits=logits[i, :n], residuals={layer: r[i, :n] for layer, r in residuals.items()})
            for i, n in enumerate(lengths)
        ]

    def unembed(self, directions: np.ndarray, normalize: bool = False) -> np.ndarray:
        import torch

        norm, head = self.model.model.norm, self.model.get_output_embeddings()
        x = torch.from_numpy(np.ascontiguousarray(directions)).to(head.weight.device, head.weight.dtype)
        with torch.no_grad():
            if normalize:
                logits = head(norm(x.unsqueeze(0)))[0]
            else:
                gain = getattr(norm, "weight", None)
                logits = head(x * gain.to(x.device) if gain is not None else x)
        return logits.float().cpu().numpy()

    def close(self) -> None:
        self.model = None
        self.blocks = []


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _spread_over(device: str, max_memory: str) -> MaxMemory | None:
    """The devices' memory to spread the model over ({}: all that is free), or None for one device."""
    import torch

    memory = parse_max_memory(max_memory)
    cuda = _cuda_devices()
    if not should_spread(device, memory, cuda):
        return None
    mps = getattr(torch.backends, "mps", None)
    check_devices_exist(memory, cuda, bool(mps is not None and mps.is_available()))
    return memory


def _device_map(model: Any) -> dict[str, Any]:
    return dict(getattr(model, "hf_device_map", None) or {})


def _decoder_blocks(model: Any) -> Any:
    inner = getattr(model, "model", None)
    blocks = getattr(inner, "layers", None)
    if blocks is None:
        raise InputError(
            f"{type(model).__name__} has no decoder blocks at model.layers: only Llama-style models are supported"
        )
    return blocks


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend

    _IMPLEMENTS: type[ModelBackend] = HFBackend  # mypy checks the class against the protocol here
