import os
from pathlib import Path

import pytest

# Converted model weights are cached inside the repo's venv folder, apart from the user's own cache.
_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("STEERING_WORKBENCH_CACHE", str(_ROOT / ".venv" / "cache" / "steering-workbench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def smollm_engine():
    """The real embedded SmolLM2 on the CPU, loaded once per test session."""
    from workbench.engine import Engine

    engine = Engine()
    engine.load_model("default", device="cpu")
    return engine
