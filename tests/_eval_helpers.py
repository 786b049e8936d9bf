"""Shared by the tests/test_eval_*.py files."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small head ops lose far more to thread contention than they gain on a shared 2-core machine (a U-Net step
    on 64 px images: 1.6 s with 2 threads under load, 0.06 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
