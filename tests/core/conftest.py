import pytest

from tests.factories import make_sae, tiny_backend


@pytest.fixture(scope="module")
def backend():
    return tiny_backend()


@pytest.fixture
def loaded_sae(backend, tmp_path):
    """A real sae-lens SAE at layer 1 of the tiny model, loaded through our loader."""
    from workbench.saes.loader import load_sae
    from workbench.saes.spec import SaeSpec

    folder = make_sae(tmp_path / "sae_l1", d_in=backend.info.d_model, layer=1)
    return load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="L1")


@pytest.fixture(scope="module", params=["torch", "minimal"])
def any_backend(request):
    """Each backend the core must work with: the transformers one, and a minimal one written in tests against
    the protocol alone (tests/core/models/minimal_backend.py)."""
    if request.param == "torch":
        return tiny_backend()
    from tests.core.models.minimal_backend import minimal_backend

    return minimal_backend()


@pytest.fixture
def any_engine(any_backend, tmp_path):
    """An engine on `any_backend` with real sae-lens SAEs at layers 1 and 2."""
    from workbench.engine import Engine

    engine = Engine()
    engine.use_backend(any_backend)
    for layer in (1, 2):
        engine.add_sae(
            str(make_sae(tmp_path / f"sae_l{layer}", d_in=any_backend.info.d_model, layer=layer, seed=layer))
        )
    return engine
