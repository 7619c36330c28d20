"""Shared test set-up.

OMP_WAIT_POLICY must be set before torch starts its OpenMP pool (see pnnlib/__init__.py).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

# Without a GPU the Triton kernels (pnnlib.core.kernels) are checked in Triton's interpreter on
# CPU tensors; it must be chosen before the kernels are first compiled (they are imported lazily).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture
def rng() -> torch.Generator:
    """A seeded generator so that every test sees the same random inputs."""
    return torch.Generator().manual_seed(1234)
