import pytest

from tests.factories import make_sae, tiny_backend


@pytest.fixture(scope="module")
def sweep_engine(tmp_path_factory):
    """The tiny random Llama with random sae-lens SAEs at layers 1 and 2 (statistics computed, for maxact)."""
    from workbench.engine import Engine

    folder = tmp_path_factory.mktemp("sweep-saes")
    engine = Engine()
    engine.use_backend(tiny_backend())
    for layer in (1, 2):
        engine.add_sae(str(make_sae(folder / f"L{layer}", d_in=64, layer=layer, seed=layer)))
    return engine
