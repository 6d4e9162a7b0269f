"""Shared fixtures. Tests that need ../shared (ICT-FaceKit, annotated photos) skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACERECON_SHARED", ROOT.parent / "shared"))
SAMPLE = ROOT / "src/facerecon/data/astronaut.jpg"


def shared_path(relative: str) -> Path:
    """A path inside ../shared, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared data folder beside the repository; present in CI)")
    return path


@pytest.fixture(scope="session")
def reconstructor():
    """The process's shared Reconstructor: what facerecon.reconstruct and the CLI's functions use."""
    from facerecon.pipeline import Reconstructor

    return Reconstructor.shared()


@pytest.fixture(scope="session")
def model(reconstructor):
    return reconstructor.model


@pytest.fixture(scope="session")
def astronaut():
    """The bundled sample, reconstructed once for every test that inspects a result."""
    import facerecon

    return facerecon.reconstruct(SAMPLE)
