"""One decoding step (one new position per row) through Llama decoder blocks in fewer torch calls than
transformers' own forward, with the same floating-point operations in the same order, so the same bits.

At one position per row the matrix products of a step are ~75 % of its time on a 2-core CPU; most of the rest was
transformers' Python around them: ~80 torch calls per block (RMSNorm's casts, q/k/v views and transposes, rotary
on q and on k, the attention interface, the cache's dispatch), a causal mask and position bookkeeping per step,
the output-recording decorators, and the keyword plumbing of each call. `LeanDecoder` computes the same step with
~30 calls per block:

- each norm, o_proj, down_proj and the activation run their modules' own `forward` (bit for bit theirs);
- q|k|v and gate|up come from the fused products (fused_linears.py) and are split as the fused modules split them;
- rotary is applied to q and k together (they lie side by side in the q|k|v output): the same products and sums
  per element as transformers' `apply_rotary_pos_emb`, whose cos/sin come from the model's own rotary module
  once per step (so every rope scaling variant is the model's);
- the new key and value go into the preallocated cache (kv_cache.GrowingLayer) and attention is the same
  `scaled_dot_product_attention` call transformers makes for one query without a mask (GQA in the kernel).

Each block is still *called* (through a small forward installed on it, see `install`), so forward hooks on a
block, which is where steering and capture attach, run on its output exactly as before. Hooks inside a block
would not run: a run with any falls back to transformers' path. So does anything else this does not reproduce:
non-Llama block classes, attention other than SDPA, a device other than the CPU, unfused or unfusable projections
(a dtype other than float32), a fused matrix whose weights were replaced, a cache that is not all GrowingLayers,
and any prompt or chunk of more than one position per row.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch

# The block forward's keyword that selects the lean step; absent, the block runs transformers' forward.
_LEAN = "lean_step"


class LeanDecoder:
    """The one-position decoding step of a Llama-family model whose blocks `install` prepared."""

    def __init__(self, model: Any, blocks: Any) -> None:
        inner = model.model
        self._embed = inner.embed_tokens
        self._rotary = inner.rotary_emb
        self._norm = inner.norm
        self._blocks = list(blocks)
        attn = self._blocks[0].self_attn
        config = attn.config
        self._heads = int(config.num_attention_heads)
        self._kv_heads = int(config.num_key_value_heads)
        self._head_dim = int(attn.head_dim)
        self._scaling = float(attn.scaling)
        self._swap: torch.Tensor | None = None
        self._parts: list[_BlockParts] = []  # set by usable() for a run
        self._plain: list[_Products] = []  # each block's weights as stored, set with _parts
        # Per block, the q|k|v, o, gate|up and down weights as oneDNN takes them for 2+ rows (cpu_layout's packed
        # copies), looked up at a run's first step of 2+ rows instead of at every product; [] until then.
        self._multi_row: list[_Products] = []
        # transformers' SDPA call for one query without a mask hands GQA to the kernel (unsupported_reason checks)
        self._sdpa_kwargs = {"enable_gqa": True} if attn.num_key_value_groups > 1 else {}

    def swap_index(self, dim: int, device: torch.device) -> torch.Tensor:
        """Indices that swap the two halves of the last dimension (made once)."""
        import torch

        if self._swap is None or self._swap.device != device:
            half = dim // 2
            self._swap = torch.cat((torch.arange(half, dim), torch.arange(half))).to(device)
        return self._swap

    @classmethod
    def install(cls, model: Any, blocks: Any) -> LeanDecoder | None:
        """A lean decoder for `model`, with each block's forward able to run a lean step; None (and the blocks
        left alone) when the model is not one this reproduces bit for bit (see the module docstring)."""
        if unsupported_reason(model, blocks) is not None:
            return None
        for block in blocks:
            block.forward = types.MethodType(_block_forward, block)
        return cls(model, blocks)

    def usable(self, cache: Any) -> bool:
        """Whether a run with `cache` can take lean steps, collecting each block's weights for it: checked once
        per run, since nothing on the model's thread changes hooks, weights or the cache's layers between steps."""
        from torch.nn.modules import module as torch_module

        from workbench.models.kv_cache import GrowingLayer

        self._parts = []
        layers = getattr(cache, "layers", None)
        if layers is None or len(layers) != len(self._blocks) or getattr(cache, "offloading", False):
            return False
        if not all(type(layer) is GrowingLayer for layer in layers):
            return False
        if torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks:
            return False  # they would run on every module inside a block on transformers' path
        if not all(
            _fused_intact(block) and _plain_linears(block) and not _hooks_inside(block) for block in self._blocks
        ):
            return False
        self._parts = [_BlockParts.of(block) for block in self._blocks]
        self._plain = [parts.products for parts in self._parts]
        self._multi_row = []
        return True

    def hidden(self, ids: torch.Tensor, start: int, cache: Any) -> torch.Tensor:
        """The final-norm hidden state (rows, 1, d_model) for token `ids` (rows, 1) at position `start`,
        the new keys and values appended to `cache`; `usable(cache)` must have said yes."""
        import torch

        hidden = self._embed(ids)
        # transformers: arange(1) + the cache's length, as a (1, 1) int64 tensor; cos/sin once for every block.
        position_ids = torch.tensor([[start]], dtype=torch.long, device=hidden.device)
        cos, sin = self._rotary(hidden, position_ids=position_ids)
        linear, products = self._products(hidden.shape[0])
        step = _Step(self, cos, sin, linear)
        for parts, weights, layer in zip(self._parts, products, cache.layers, strict=True):
            step.parts, step.weights, step.cache_layer = parts, weights, layer
            block = parts.block
            if block._forward_hooks or block._forward_pre_hooks:
                hidden = block(hidden, **{_LEAN: step})  # through Module.__call__, which runs the hooks
            else:
                hidden = self.block_step(hidden, step)  # what Module.__call__ does for a block without hooks
        return self._norm(hidden)

    def _products(self, rows: int) -> tuple[Callable[..., torch.Tensor], list[_Products]]:
        """The product function for `rows` rows and, per block, the weights it takes: the same products
        cpu_layout.cpu_linear computes for the fused modules (torch's linear for one row, oneDNN for more)."""
        import torch

        from workbench.models.cpu_layout import cpu_linear, onednn_linear, onednn_weight

        plain = self._plain
        if rows == 1 or torch.is_grad_enabled():
            return (torch.nn.functional.linear if rows == 1 else cpu_linear), plain
        if not self._multi_row:
            prepared = [tuple(onednn_weight(w) for w in weights) for weights in plain]
            if any(w is None for weights in prepared for w in weights):
                return cpu_linear, plain  # oneDNN is unavailable in this build: cpu_linear gave up on it too
            self._multi_row = prepared  # type: ignore[assignment]
        return onednn_linear, self._multi_row

    def block_step(self, hidden: torch.Tensor, step: _Step) -> torch.Tensor:
        """LlamaDecoderLayer.forward for one position per row, with the same float operations in the same order.
        Rows are 2-D inside (a 2-D linear skips matmul's reshapes around the same product); the block returns
        transformers' (rows, 1, d_model), which is what its hooks see."""
        import torch

        p, linear = step.parts, step.linear
        qkv_weight, o_weight, gate_up_weight, down_weight = step.weights
        rows, _, width = hidden.shape
        heads, kv_heads = self._heads, self._kv_heads

        residual = hidden.reshape(rows, width)
        x = _rms_norm(residual, p.norm_in, p.eps_in)
        # q|k|v as (rows, heads + 2 kv_heads, 1, head_dim): q, k and v are then slices in SDPA's layout.
        qkv = linear(x, qkv_weight, p.qkv_bias).view(rows, heads + 2 * kv_heads, 1, self._head_dim)
        qk = qkv[:, : heads + kv_heads]
        qk = (qk * step.cos) + (qk.index_select(-1, step.swap) * step.signed_sin)  # rotary on q and k at once
        keys, values = step.cache_layer.update(qk[:, heads:], qkv[:, heads + kv_heads :])
        out = torch.nn.functional.scaled_dot_product_attention(
            qk[:, :heads], keys, values, attn_mask=None, dropout_p=0.0, scale=self._scaling, is_causal=False,
            **self._sdpa_kwargs,
        )  # fmt: skip
        hidden = residual + linear(out.transpose(1, 2).reshape(rows, -1), o_weight, p.o_bias)

        x = _rms_norm(hidden, p.norm_post, p.eps_post)
        gate, up = linear(x, gate_up_weight, p.gate_up_bias).split(p.gate_up_sizes, dim=-1)
        return (hidden + linear(p.act(gate) * up, down_weight, p.down_bias)).view(rows, 1, width)


# A block's q|k|v, o, gate|up and down weights, in the order a step multiplies by them.
_Products = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor", "torch.Tensor"]


class _BlockParts(NamedTuple):
    """What a lean step reads from one block, gathered once per run instead of through nn.Module's attribute
    lookup at every step (~450 lookups a step)."""

    block: Any
    norm_in: torch.Tensor
    eps_in: torch.Tensor
    qkv: torch.Tensor
    qkv_bias: torch.Tensor | None
    o: torch.Tensor
    o_bias: torch.Tensor | None
    norm_post: torch.Tensor
    eps_post: torch.Tensor
    gate_up: torch.Tensor
    gate_up_bias: torch.Tensor | None
    gate_up_sizes: list[int]
    down: torch.Tensor
    down_bias: torch.Tensor | None
    act: Callable[[torch.Tensor], torch.Tensor]

    @classmethod
    def of(cls, block: Any) -> _BlockParts:
        attn, mlp = block.self_attn, block.mlp
        qkv, gate_up = attn.q_proj.fused_group, mlp.gate_proj.fused_group
        norm_in, norm_post = block.input_layernorm, block.post_attention_layernorm
        return cls(
            block=block,
            norm_in=norm_in.weight,
            eps_in=_epsilon(norm_in),
            qkv=qkv.weight,
            qkv_bias=qkv.bias,
            o=attn.o_proj.weight,
            o_bias=attn.o_proj.bias,
            norm_post=norm_post.weight,
            eps_post=_epsilon(norm_post),
            gate_up=gate_up.weight,
            gate_up_bias=gate_up.bias,
            gate_up_sizes=list(gate_up.sizes),
            down=mlp.down_proj.weight,
            down_bias=mlp.down_proj.bias,
            act=mlp.act_fn.forward,
        )

    @property
    def products(self) -> _Products:
        return (self.qkv, self.o, self.gate_up, self.down)


class _Step:
    """What every block of one step shares: cos/sin for the new position, the linear for its row count, and
    the block being computed with its cache layer.

    transformers' rotary is q·cos + rotate_half(q)·sin with rotate_half(q) = (−q2, q1). Here the halves are
    swapped by one gather and the sign moves to sin: (−a)·b and a·(−b) are the same float, so the products, and
    the sum after them, are the same bits."""

    __slots__ = ("cache_layer", "cos", "decoder", "linear", "parts", "signed_sin", "swap", "weights")

    def __init__(self, decoder: LeanDecoder, cos: torch.Tensor, sin: torch.Tensor, linear: Any) -> None:
        import torch

        dim = cos.shape[-1]
        half = dim // 2
        self.decoder = decoder
        self.linear = linear
        # (1, 1, head_dim) → (1, 1, 1, head_dim), broadcast over (rows, heads, 1, head_dim).
        self.cos = cos.view(1, 1, 1, dim)
        self.signed_sin = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1).view(1, 1, 1, dim)
        self.swap = decoder.swap_index(dim, cos.device)
        self.parts: Any = None
        self.weights: _Products = ()  # type: ignore[assignment]
        self.cache_layer: Any = None


def _block_forward(self: Any, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
    """A block's forward: the lean step when called with one, transformers' forward otherwise."""
    step = kwargs.pop(_LEAN, None)
    if step is None:
        return type(self).forward(self, hidden_states, *args, **kwargs)
    return step.decoder.block_step(hidden_states, step)


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, epsilon: torch.Tensor) -> torch.Tensor:
    """LlamaRMSNorm.forward for float32 `x` (unsupported_reason checks both), without its two casts to the
    dtype `x` already has."""
    import torch

    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + epsilon))


def _epsilon(norm: Any) -> torch.Tensor:
    """The norm's epsilon as the float32 scalar tensor that adding the Python float uses (the CPU kernel
    rounds a Python scalar to the tensor's float32 too), without wrapping a new scalar at every call."""
    import torch

    return torch.tensor(norm.variance_epsilon, dtype=norm.weight.dtype, device=norm.weight.device)


def _plain_linears(block: Any) -> bool:
    """Whether o_proj and down_proj compute cpu_linear(x, weight, bias), as fused_linears.py set them to."""
    from workbench.models.fused_linears import _linear_forward

    modules = (block.self_attn.o_proj, block.mlp.down_proj)
    return all(getattr(vars(m).get("forward"), "__func__", None) is _linear_forward for m in modules)


def _fused_intact(block: Any) -> bool:
    attn, mlp = block.self_attn, block.mlp
    qkv = getattr(attn.q_proj, "fused_group", None)
    gate_up = getattr(mlp.gate_proj, "fused_group", None)
    return (
        qkv is not None
        and gate_up is not None
        and qkv.modules == [attn.q_proj, attn.k_proj, attn.v_proj]
        and gate_up.modules == [mlp.gate_proj, mlp.up_proj]
        and qkv.intact()
        and gate_up.intact()
    )


def _hooks_inside(block: Any) -> bool:
    """Whether any module inside `block` (not the block itself) has a hook the lean step would skip."""
    for module in block.modules():
        if module is block:
            continue
        if module._forward_hooks or module._forward_pre_hooks:
            return True
    return False


def unsupported_reason(model: Any, blocks: Any) -> str | None:
    """Why `model` cannot take lean steps, or None when it can."""
    import torch
    from transformers.integrations.sdpa_attention import use_gqa_in_sdpa
    from transformers.models.llama import modeling_llama as llama

    inner = getattr(model, "model", None)
    if inner is None or not len(blocks):
        return "no decoder blocks at model.model.layers"
    if type(inner) is not llama.LlamaModel:
        return f"{type(inner).__name__} is not a LlamaModel"
    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return f"attention {getattr(model.config, '_attn_implementation', None)!r}, not 'sdpa'"
    if getattr(model, "hf_device_map", None):
        return "the model is spread over devices"
    parameters = list(model.parameters())
    if any(p.device.type != "cpu" for p in parameters):
        return "not every weight is on the CPU"
    if any(p.dtype != torch.float32 for p in parameters):
        return "not every weight is float32"
    for block in blocks:
        parts = (
            (block, llama.LlamaDecoderLayer),
            (block.self_attn, llama.LlamaAttention),
            (block.mlp, llama.LlamaMLP),
            (block.input_layernorm, llama.LlamaRMSNorm),
            (block.post_attention_layernorm, llama.LlamaRMSNorm),
        )
        for module, expected in parts:
            if type(module) is not expected:
                return f"{type(module).__name__} where {expected.__name__} was expected"
        for norm in (block.input_layernorm, block.post_attention_layernorm):
            if "forward" in vars(norm) or type(norm).forward.__module__ != llama.__name__:
                return "an RMSNorm's forward was replaced (a hub kernel?)"
        own = vars(block).get("forward")
        if own is not None and getattr(own, "__func__", None) is not _block_forward:
            return "a block's forward was already replaced"
        if not _fused_intact(block) or not _plain_linears(block):
            return "q|k|v or gate|up is not fused, or o/down not stored for decoding (fused_linears.py)"
        attn = block.self_attn
        if attn.num_key_value_groups > 1:
            probe = torch.empty(1, 1, 1, attn.head_dim)
            if not use_gqa_in_sdpa(None, probe, probe):
                return "transformers would not hand GQA to SDPA for this head size"
    return None
