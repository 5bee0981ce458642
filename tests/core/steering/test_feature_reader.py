"""The clamp's feature reader: the activations sae.encode gives, for each architecture, with less work."""

import pytest
import torch

from workbench.steering.feature_reader import FeatureReader

D_IN, D_SAE = 32, 96
FEATURES = [3, 17, 40, 95]


def _sae(kind, **extra):
    import sae_lens

    torch.manual_seed(0)
    if kind == "topk":
        cfg = sae_lens.TopKSAEConfig(d_in=D_IN, d_sae=D_SAE, k=8, **extra)
        sae = sae_lens.TopKSAE(cfg)
    elif kind == "jumprelu":
        sae = sae_lens.JumpReLUSAE(sae_lens.JumpReLUSAEConfig(d_in=D_IN, d_sae=D_SAE, **extra))
    else:
        sae = sae_lens.StandardSAE(sae_lens.StandardSAEConfig(d_in=D_IN, d_sae=D_SAE, **extra))
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        if kind == "jumprelu":
            sae.threshold.copy_(torch.rand(D_SAE) * 0.5)
    return sae.eval()


def _inputs():
    x = torch.randn(3, 7, D_IN, generator=torch.Generator().manual_seed(1))
    x[0, 0] = 0  # a row where few features fire
    return x


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("topk", {}), ("topk", {"rescale_acts_by_decoder_norm": True}), ("standard", {}), ("jumprelu", {})],
)
def test_the_fast_readers_give_what_encode_gives(kind, extra):
    sae = _sae(kind, **extra)
    reader = FeatureReader(sae, FEATURES)
    assert reader.kind == kind
    x = _inputs()
    with torch.no_grad():
        expected = sae.encode(x)[..., FEATURES]
        got = reader(x)
    assert (expected > 0).any() and (expected == 0).any()  # some features in, some out of the active set
    if kind == "topk":
        assert torch.equal(got, expected)  # the same pre-activations and top-k selection, bit for bit
    else:
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
        assert torch.equal(got > 0, expected > 0)
    assert torch.equal(reader.to_model_space(expected), expected)


def test_input_normalisation_and_hooks_keep_saes_own_encode():
    normed = _sae("standard", normalize_activations="constant_norm_rescale")
    hooked = _sae("topk")
    hooked.hook_sae_acts_pre.register_forward_hook(lambda _m, _a, out: out * 0)
    x = _inputs()[1:]  # no zero row: the norm rescale divides by the norm
    for sae in (normed, hooked):
        reader = FeatureReader(sae, FEATURES)
        assert reader.kind is None
        with torch.no_grad():
            assert torch.equal(reader(x), sae.encode(x)[..., FEATURES])
