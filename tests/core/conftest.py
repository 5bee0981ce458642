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
