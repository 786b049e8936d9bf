import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the checkout in CI only)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory) -> Path:
    """A 48-study phantom at 64 px, generated once per test session."""
    from cxrvlp.phantom import generate

    return generate(tmp_path_factory.mktemp("phantom"), 48, seed=1, image_size=64, progress=False)


@pytest.fixture
def one_thread():
    """One torch thread for the test: on 2 cores shared with other jobs, one thread per process is several times
    faster for the tiny models."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
