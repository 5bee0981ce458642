"""Real parts for tests: a tiny random Llama with a byte-level tokenizer, and real sae-lens SAEs on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def tiny_tokenizer() -> Any:
    """A byte-level BPE tokenizer with no merges: 256 byte tokens plus bos/eos, and a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab["<bos>"] = len(vocab)
    vocab["<eos>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_llama(n_layers: int = 4, d_model: int = 64, seed: int = 0) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=258,
        hidden_size=d_model,
        intermediate_size=2 * d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=256,
        eos_token_id=257,
    )
    return LlamaForCausalLM(config).eval()


def tiny_backend(n_layers: int = 4, d_model: int = 64) -> Any:
    from workbench.models.hf import HFBackend

    return HFBackend(tiny_llama(n_layers, d_model), tiny_tokenizer(), "tiny-llama", "<memory>", "tiny")


def make_sae(
    folder: Path,
    d_in: int,
    layer: int,
    d_sae: int = 128,
    hook_name: str | None = None,
    seed: int = 0,
    normalize: str = "none",
) -> Path:
    """Write a random StandardSAE (sae-lens format) reading block `layer`'s output, and return its folder."""
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig

    torch.manual_seed(seed)
    cfg = StandardSAEConfig(d_in=d_in, d_sae=d_sae, normalize_activations=normalize)  # type: ignore[arg-type]
    cfg.metadata.hook_name = hook_name or f"blocks.{layer}.hook_resid_post"
    sae = StandardSAE(cfg)
    with torch.no_grad():
        # Unit-norm decoder rows and a small negative encoder bias: sparse, like a trained SAE.
        sae.W_dec.data = torch.nn.functional.normalize(torch.randn(d_sae, d_in), dim=-1)
        sae.W_enc.data = sae.W_dec.data.T.contiguous()
        sae.b_enc.data = torch.full((d_sae,), -0.05)
    folder.mkdir(parents=True, exist_ok=True)
    sae.save_model(str(folder))
    return folder
