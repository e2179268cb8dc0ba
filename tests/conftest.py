"""Shared test set-up."""

import shutil

import pytest
import torch

# torch.compile's CPU backend (inductor) writes and builds C++; without a compiler those tests skip.
needs_cxx = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                               reason="torch.compile's CPU backend needs a C++ compiler")


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tests run tiny models with small ops: one thread is as fast alone and much faster on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
