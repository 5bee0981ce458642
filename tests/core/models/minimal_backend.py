"""A second, minimal in-process backend, written only against the `ModelBackend` protocol.

It wraps the tiny random Llama without `HFBackend`: its own tokenizer calls, forward for the decode loop, hooks
on `model.model.layers` for capture and splices, and logit lens. When a core test passes on both backends, the
core needs nothing from a backend but the protocol: that is what makes a llama.cpp backend one module away.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from workbench.cancel import CancelToken, check
from workbench.errors import InputError
from workbench.models.edits import EditMode, ResidualEdits
from workbench.models.generation import GenerationRun
from workbench.models.protocol import Capabilities, ForwardPass, ModelInfo, ResidualSplice, check_prompt
from workbench.models.sampling import SamplingSettings


class MinimalBackend:
    capabilities = Capabilities(modes=frozenset(EditMode), capture=True, batched=True)

    def __init__(self, model: Any, tokenizer: Any, name: str = "minimal-llama") -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.layers = model.model.layers
        config = model.config
        self.info = ModelInfo(
            name=name,
            path="<memory>",
            source="minimal",
            device="cpu",
            dtype="float32",
            n_layers=len(self.layers),
            d_model=int(config.hidden_size),
            vocab_size=int(config.vocab_size),
            has_chat_template=bool(tokenizer.chat_template),
            parameters=sum(p.numel() for p in model.parameters()),
            memory_bytes=sum(p.numel() * 4 for p in model.parameters()),
            architecture=str(config.model_type),
            eos_token_id=int(tokenizer.eos_token_id),
            context_length=int(config.max_position_embeddings),
        )

    # -- text -----------------------------------------------------------------------------------------------
    def encode_prompt(self, text: str, chat: bool) -> list[int]:
        if chat:
            rendered = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
            )
            return list(self.tokenizer(rendered, add_special_tokens=False)["input_ids"])
        return list(self.tokenizer(text)["input_ids"])

    def encode_text(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, token_ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(token_ids), skip_special_tokens=True))

    def token_strings(self, token_ids: Sequence[int]) -> list[str]:
        tokens = self.tokenizer.convert_ids_to_tokens([int(i) for i in token_ids])
        return [self.tokenizer.convert_tokens_to_string([t]) for t in tokens]

    # -- generation: no packed head, no cache reuse tricks; the decode loop's forward only ------------------
    def generate(
        self,
        prompt_ids: Sequence[int],
        plan: ResidualEdits,
        settings: SamplingSettings,
        cancel: CancelToken | None = None,
    ) -> GenerationRun:
        from transformers import DynamicCache

        check_prompt(self.info, prompt_ids, settings.max_new_tokens)
        prompt_len = len(prompt_ids)

        def forward(ids: torch.Tensor, start: int, cache: object) -> torch.Tensor:
            with plan.attached(self.layers, start, prompt_len):
                out = self.model(input_ids=ids, past_key_values=cache, use_cache=True)
            return out.logits[:, -1, :]

        return GenerationRun(
            prompt_ids=list(prompt_ids),
            plan=plan,
            settings=settings,
            forward=forward,
            new_cache=lambda: DynamicCache(config=self.model.config),
            decode=self.decode,
            eos_ids=frozenset({int(self.tokenizer.eos_token_id)}),
            device="cpu",
            cancel=cancel,
        )

    # -- capture: our own hooks, a whole forward every time -------------------------------------------------
    def residuals(
        self, token_ids: Sequence[int], layers: Sequence[int], cancel: CancelToken | None = None
    ) -> dict[int, np.ndarray]:
        batch = self.residual_batch([token_ids], layers, cancel)
        return {layer: batch[layer][0] for layer in layers}

    def residual_batch(
        self, rows: Sequence[Sequence[int]], layers: Sequence[int], cancel: CancelToken | None = None
    ) -> dict[int, np.ndarray]:
        _, captured = self._run([list(r) for r in rows], layers, None, cancel)
        return captured

    def forward(
        self,
        token_ids: Sequence[int],
        capture: Sequence[int] = (),
        splice: ResidualSplice | None = None,
        cancel: CancelToken | None = None,
    ) -> ForwardPass:
        logits, captured = self._run([list(token_ids)], capture, splice, cancel)
        return ForwardPass(logits=logits[0], residuals={layer: captured[layer][0] for layer in capture})

    def forward_batch(
        self, rows: Sequence[Sequence[int]], capture: Sequence[int] = (), cancel: CancelToken | None = None
    ) -> list[ForwardPass]:
        """Rows padded on the right with zeros and masked, written here without the workbench's helper."""
        if not rows or any(not r for r in rows):
            raise InputError("a batched forward needs at least one row, and every row at least one token")
        width = max(len(r) for r in rows)
        padded = [[*map(int, r), *[0] * (width - len(r))] for r in rows]
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        logits, captured = self._run(padded, capture, None, cancel, mask)
        return [
            ForwardPass(
                logits=logits[i, : len(r)], residuals={layer: captured[layer][i, : len(r)] for layer in capture}
            )
            for i, r in enumerate(rows)
        ]

    def unembed(self, directions: np.ndarray, normalize: bool = False) -> np.ndarray:
        x = torch.from_numpy(np.asarray(directions, dtype=np.float32))
        norm = self.model.model.norm
        with torch.no_grad():
            x = norm(x) if normalize else x * norm.weight
            return self.model.lm_head(x).numpy()

    def close(self) -> None:
        self.model = None

    def _run(
        self,
        rows: list[list[int]],
        capture: Sequence[int],
        splice: ResidualSplice | None,
        cancel: CancelToken | None,
        mask: torch.Tensor | None = None,
    ) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        for layer in [*capture, *([splice.layer] if splice else [])]:
            if not 0 <= layer < self.info.n_layers:
                raise InputError(f"layer {layer} is out of range: the model has layers 0–{self.info.n_layers - 1}")
        captured: dict[int, np.ndarray] = {}

        def hook_for(layer: int) -> Any:
            def hook(_module: Any, _args: Any, output: Any) -> Any:
                hidden = output[0] if isinstance(output, tuple) else output
                if layer in capture:
                    captured[layer] = hidden.detach().float().numpy().copy()
                if splice is None or splice.layer != layer:
                    return None
                new = hidden.clone()
                values = torch.from_numpy(np.asarray(splice.values, dtype=np.float32))
                new[:, splice.start : splice.start + values.shape[0]] = values
                return (new, *output[1:]) if isinstance(output, tuple) else new

            return hook

        hooked = set(capture) | ({splice.layer} if splice else set())
        handles = [self.layers[layer].register_forward_hook(hook_for(layer)) for layer in hooked]
        if cancel is not None:
            handles += [block.register_forward_pre_hook(lambda *_: check(cancel)) for block in self.layers]
        try:
            with torch.no_grad():
                ids = torch.tensor(rows, dtype=torch.long)
                logits = self.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        finally:
            for handle in handles:
                handle.remove()
        return logits.float().numpy(), captured


def minimal_backend(n_layers: int = 4, d_model: int = 64) -> MinimalBackend:
    from tests.factories import tiny_llama, tiny_tokenizer

    return MinimalBackend(tiny_llama(n_layers, d_model), tiny_tokenizer())
