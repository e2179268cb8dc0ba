"""Shared test set-up."""

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tests run tiny models with small ops: one thread is as fast alone and much faster on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
