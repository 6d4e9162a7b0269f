"""Exports: OBJ, GLB (ARKit morph targets, Khronos validator, Blender), PLY, and --formats."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import ROOT, SAMPLE
from scipy.spatial import cKDTree

from facerecon.cli import main
from facerecon.model.arkit import ARKIT_NAMES

VALIDATOR = Path(os.environ.get("GLTF_VALIDATOR", ROOT / ".ci/node/node_modules/gltf-validator"))


@pytest.fixture(scope="module")
def saved(astronaut, tmp_path_factory):
    outdir = tmp_path_factory.mktemp("export")
    astronaut[0].save(outdir, "astro", formats=("obj", "glb", "ply", "json"))
    return astronaut[0], outdir


def read_glb(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    json_length, _ = struct.unpack_from("<I4s", data, 12)
    document = json.loads(data[20 : 20 + json_length])
    bin_start = 20 + json_length + 8
    return document, data[bin_start:]


def test_glb_has_arkit_morph_targets_and_pose(saved):
    recon, outdir = saved
    document, binary = read_glb(outdir / "astro.glb")
    mesh = document["meshes"][0]
    assert mesh["extras"]["targetNames"] == list(ARKIT_NAMES)
    assert len(mesh["primitives"][0]["targets"]) == 52
    assert mesh["weights"] == pytest.approx([recon.expression[n] for n in ARKIT_NAMES], abs=1e-6)
    node = document["nodes"][0]
    assert node["translation"] == pytest.approx(list(np.asarray(recon.pose["translation"]) / 100))
    x, y, z, w = node["rotation"]
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip
    assert np.allclose(rotation, recon.pose["rotation"], atol=1e-5)
    image_view = document["bufferViews"][document["images"][0]["bufferView"]]
    png = binary[image_view["byteOffset"] : image_view["byteOffset"] + 8]
    assert png == b"\x89PNG\r\n\x1a\n"


def test_glb_geometry_is_the_fitted_mesh_in_metres(saved):
    recon, outdir = saved
    scene = trimesh.load(outdir / "astro.glb", process=False)
    geometry = next(iter(scene.geometry.values()))
    # Neutral mesh + the default morph weights = the fitted (expressive) mesh, in metres.
    document, binary = read_glb(outdir / "astro.glb")
    primitive = document["meshes"][0]["primitives"][0]

    def read(view: int, dtype: type, count: int) -> np.ndarray:
        return np.frombuffer(binary, dtype, count, document["bufferViews"][view]["byteOffset"])

    def accessor(index: int) -> np.ndarray:
        acc = document["accessors"][index]
        width = {"VEC3": 3, "VEC2": 2, "SCALAR": 1}[acc["type"]]
        if "bufferView" in acc:
            return read(acc["bufferView"], np.float32, acc["count"] * width).reshape(acc["count"], -1)
        values = np.zeros((acc["count"], width), np.float32)  # a sparse accessor: zeros but for its rows
        if "sparse" in acc:
            sparse = acc["sparse"]
            rows = read(sparse["indices"]["bufferView"], np.uint32, sparse["count"])
            values[rows] = read(sparse["values"]["bufferView"], np.float32, sparse["count"] * width).reshape(-1, width)
        return values

    neutral = accessor(primitive["attributes"]["POSITION"])
    weights = np.array(document["meshes"][0]["weights"])
    posed = neutral + sum(w * accessor(t["POSITION"]) for w, t in zip(weights, primitive["targets"], strict=True))
    assert len(geometry.vertices) == len(neutral) >= len(recon.vertices)
    # Each fitted vertex appears among the GLB's (seams only duplicate vertices), within 0.05 mm (morph
    # offsets below 0.01 mm are dropped).
    distance, _ = cKDTree(posed).query(recon.vertices / 100)
    assert distance.max() < 5e-5
    # The morph targets store only the vertices they move: the file stays small.
    assert not any("bufferView" in document["accessors"][t["POSITION"]] for t in primitive["targets"])
    assert (outdir / "astro.glb").stat().st_size < 5.5e6


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (Node.js) for Khronos' gltf-validator")
def test_glb_passes_khronos_validator(saved):
    if not VALIDATOR.exists():
        pytest.skip(f"needs gltf-validator at {VALIDATOR} (.ci/run installs it: npm install --prefix .ci/node)")
    _, outdir = saved
    result = subprocess.run(
        ["node", str(ROOT / "tests/js/validate_gltf.js"), str(outdir / "astro.glb")],
        capture_output=True, text=True, env=os.environ | {"GLTF_VALIDATOR": str(VALIDATOR)}, check=True,
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]
    assert report["info"]["hasMorphTargets"] and report["info"]["hasTextures"]


def test_obj_round_trip(saved):
    recon, outdir = saved
    mesh = trimesh.load(outdir / "astro.obj", process=False, maintain_order=True)
    assert len(mesh.vertices) == len(recon.vertices)
    assert np.allclose(mesh.vertices, recon.vertices, atol=1e-4)
    assert (np.asarray(mesh.faces) == recon.faces).all()


def test_ply_has_vertex_colours(saved):
    recon, outdir = saved
    mesh = trimesh.load(outdir / "astro.ply", process=False)
    assert np.allclose(mesh.vertices, recon.vertices, atol=1e-5)
    assert (np.asarray(mesh.faces) == recon.faces).all()
    colours = np.asarray(mesh.visual.vertex_colors)[:, :3].astype(float)
    face_region = colours[:9409]
    assert face_region.std() > 5 and face_region.mean() > 40  # skin, not a flat default


def test_formats_option(tmp_path, capsys):
    assert main(["reconstruct", str(SAMPLE), "-o", str(tmp_path), "--formats", "ply", "--no-photometric"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["astronaut.ply", "astronaut_overlay.png", "astronaut_texture.png"]
    with pytest.raises(SystemExit):
        main(["reconstruct", str(SAMPLE), "-o", str(tmp_path), "--formats", "obj,fbx"])


def test_turntable_gif(astronaut, tmp_path):
    from PIL import Image

    astronaut[0].save(tmp_path, "t", formats=("json",), turntable=True)
    gif = Image.open(tmp_path / "t_turntable.gif")
    assert gif.n_frames >= 12
    first = np.asarray(gif.convert("RGB"))
    gif.seek(gif.n_frames // 4)
    quarter = np.asarray(gif.convert("RGB"))
    assert np.abs(first.astype(int) - quarter.astype(int)).mean() > 3  # the head turns


BLENDER = shutil.which("blender")


@pytest.mark.skipif(BLENDER is None, reason="needs Debian's blender (.ci/run installs it with apt-get)")
@pytest.mark.parametrize("fmt", ["obj", "glb"])
def test_blender_imports(saved, fmt, tmp_path):
    recon, outdir = saved
    picture = tmp_path / f"blender_{fmt}.png"
    result = subprocess.run(
        [BLENDER, "-b", "--factory-startup", "--python-expr", "import numpy; numpy.bool = bool",
         "--python", str(ROOT / "tests/blender/inspect_import.py"), "--", str(outdir / f"astro.{fmt}"), str(picture)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("FACERECON_REPORT ")), None)
    assert line, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(line.split(" ", 1)[1])
    assert report["images"] and report["images"][0] == [1024, 1024]  # the texture was found
    if fmt == "obj":
        assert report["vertices"] == len(recon.vertices)
    else:
        document, _ = read_glb(outdir / "astro.glb")
        assert report["vertices"] == document["accessors"][0]["count"]
        assert report["shape_keys"] == list(ARKIT_NAMES)
    assert picture.stat().st_size > 1000
