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
def model():
    from facerecon.model.face_model import load_face_model

    return load_face_model()


@pytest.fixture(scope="session")
def astronaut():
    """The bundled sample, reconstructed once for every test that inspects a result."""
    import facerecon

    return facerecon.reconstruct(SAMPLE)
