"""Exports: OBJ, GLB (ARKit morph targets, Khronos validator, Blender), PLY, and --formats."""

from __future__ import annotations

import io
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
from facerecon.export.images import png_bytes
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
    # The skin, the eyes and the inside of the mouth: a primitive each, with its own textured material.
    materials = [document["materials"][p["material"]] for p in mesh["primitives"]]
    assert [m["name"] for m in materials] == ["face", "eyes", "mouth"]
    assert all(len(p["targets"]) == 52 for p in mesh["primitives"])
    assert len({m["pbrMetallicRoughness"]["baseColorTexture"]["index"] for m in materials}) == 2
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
    magic = {b"\xff\xd8\xff": "image/jpeg", b"\x89PN": "image/png"}
    for image in document["images"]:
        offset = document["bufferViews"][image["bufferView"]]["byteOffset"]
        assert magic[binary[offset : offset + 3]] == image["mimeType"]


def test_glb_geometry_is_the_fitted_mesh_in_metres(saved):
    recon, outdir = saved
    scene = trimesh.load(outdir / "astro.glb", process=False)
    geometry = next(iter(scene.geometry.values()))
    # Neutral mesh + the default morph weights = the fitted (expressive) mesh, in metres.
    document, binary = read_glb(outdir / "astro.glb")
    skin, eyes, mouth = document["meshes"][0]["primitives"]
    index_types = {5123: np.uint16, 5125: np.uint32}

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
            rows = read(
                sparse["indices"]["bufferView"], index_types[sparse["indices"]["componentType"]], sparse["count"]
            )
            values[rows] = read(sparse["values"]["bufferView"], np.float32, sparse["count"] * width).reshape(-1, width)
        return values

    weights = np.array(document["meshes"][0]["weights"])

    def posed(primitive: dict) -> np.ndarray:
        neutral = accessor(primitive["attributes"]["POSITION"])
        return neutral + sum(w * accessor(t["POSITION"]) for w, t in zip(weights, primitive["targets"], strict=True))

    assert len(geometry.vertices) == len(posed(skin)) >= len(recon.vertices)
    # Each fitted vertex appears among the GLB's (seams only duplicate vertices), within 0.1 mm (morph
    # offsets below 0.03 mm are dropped); the eyes and the mouth's inside too, where the fit put them.
    for primitive, mesh in zip((skin, eyes, mouth), recon.meshes, strict=True):
        distance, _ = cKDTree(posed(primitive)).query(mesh.vertices / 100)
        assert distance.max() < 1e-4, mesh.name
        # The morph targets store only the vertices they move: the file stays small.
        assert not any("bufferView" in document["accessors"][t["POSITION"]] for t in primitive["targets"])
    assert (outdir / "astro.glb").stat().st_size < 5.0e6


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (Node.js) for Khronos' gltf-validator")
def test_glb_texture_png_is_lossless(saved, tmp_path):
    """--glb-texture png: the skin's texture travels in the GLB as PNG, pixel for pixel the texture; the
    default JPEG is lossy but close."""
    from PIL import Image

    from facerecon.cli import build_parser

    recon, outdir = saved
    assert build_parser().parse_args(["reconstruct", "x.jpg", "-o", "o", "--glb-texture", "png"]).glb_texture == "png"
    recon.save(tmp_path, "lossless", formats=("glb",), glb_texture="png")
    skins = {}
    for path in (outdir / "astro.glb", tmp_path / "lossless.glb"):
        document, binary = read_glb(path)
        view = document["bufferViews"][document["images"][0]["bufferView"]]
        data = binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
        skins[document["images"][0]["mimeType"]] = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert (skins["image/png"] == recon.texture).all()
    assert 0 < np.abs(skins["image/jpeg"].astype(int) - recon.texture).mean() < 3


def test_glb_passes_khronos_validator(saved):
    if not VALIDATOR.exists():
        pytest.skip(f"needs gltf-validator at {VALIDATOR} (.ci/run installs it: npm install --prefix .ci/node)")
    recon, outdir = saved
    recon.save(outdir, "astro_png", formats=("glb",), glb_texture="png")
    for name in ("astro.glb", "astro_png.glb"):
        result = subprocess.run(
            ["node", str(ROOT / "tests/js/validate_gltf.js"), str(outdir / name)],
            capture_output=True, text=True, env=os.environ | {"GLTF_VALIDATOR": str(VALIDATOR)}, check=True,
        )  # fmt: skip
        report = json.loads(result.stdout)
        assert report["issues"]["numErrors"] == 0, (name, report["issues"]["messages"])
        assert report["info"]["hasMorphTargets"] and report["info"]["hasTextures"]


def test_obj_round_trip(saved):
    recon, outdir = saved
    mesh = trimesh.load(outdir / "astro.obj", process=False, force="mesh")  # a viewer's merged load
    assert len(mesh.faces) == sum(len(m.faces) for m in recon.meshes)
    # Object by object (read here: trimesh regroups them): the skin, eyes and mouth, each with its material.
    objects, vertices, faces, offset = [], {}, {}, 0
    for line in (outdir / "astro.obj").read_text().splitlines():
        kind, *values = line.split() or [""]
        if kind in ("o", "usemtl"):
            objects.append((kind, values[0]))
        elif kind == "v":
            vertices.setdefault(objects[-1][1], []).append([float(v) for v in values])
        elif kind == "f":
            faces.setdefault(objects[-1][1], []).append([int(v.split("/")[0]) - 1 for v in values])
    assert objects == [(k, name) for name in ("face", "eyes", "mouth") for k in ("o", "usemtl")]
    for mesh in recon.meshes:
        assert np.allclose(vertices[mesh.name], mesh.vertices, atol=1e-4)
        assert (np.array(faces[mesh.name]) - offset == mesh.faces).all()
        offset += len(mesh.vertices)
    materials = (outdir / "astro.mtl").read_text()
    assert "newmtl eyes" in materials and "map_Kd astro_parts.png" in materials


def test_pictures_read_back_exactly(saved):
    """Our PNG encoder's files decode, in Pillow and in OpenCV, to the very pixels (RGB, RGBA, grey)."""
    import cv2
    from PIL import Image

    recon, outdir = saved
    pictures = {"texture": recon.texture, "albedo": recon.albedo_texture, "render": recon.render,
                "overlay": recon.overlay, "parts": recon.parts.texture}  # fmt: skip
    for key, pixels in pictures.items():
        path = outdir / f"astro_{key}.png"
        assert (np.asarray(Image.open(path)) == pixels).all(), key
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert (decoded[..., [2, 1, 0, 3][: pixels.shape[2]]] == pixels).all(), key
    grey = recon.texture[..., 1]
    assert (np.asarray(Image.open(io.BytesIO(png_bytes(grey)))) == grey).all()


def test_ply_has_vertex_colours(saved):
    recon, outdir = saved
    mesh = trimesh.load(outdir / "astro.ply", process=False)
    n = len(recon.vertices)
    assert len(mesh.vertices) == n + sum(len(m.vertices) for m in recon.meshes[1:])
    assert np.allclose(mesh.vertices[:n], recon.vertices, atol=1e-5)
    assert (np.asarray(mesh.faces)[: len(recon.faces)] == recon.faces).all()
    colours = np.asarray(mesh.visual.vertex_colors)[:, :3].astype(float)
    face_region = colours[:9409]
    assert face_region.std() > 5 and face_region.mean() > 40  # skin, not a flat default
    eyes = colours[n : n + len(recon.meshes[1].vertices)]
    assert (eyes.min(axis=1) > 180).mean() > 0.5 and (eyes.max(axis=1) < 60).any()  # white sclera, dark pupils


def test_formats_option(tmp_path, capsys):
    assert main(["reconstruct", str(SAMPLE), "-o", str(tmp_path), "--formats", "ply", "--no-photometric"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["astronaut.ply", "astronaut_overlay.png", "astronaut_parts.png", "astronaut_texture.png"]
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
    assert [1024, 1024] in report["images"]  # the skin's texture was found
    if fmt == "obj":
        assert report["objects"] == ["eyes", "face", "mouth"]
        assert report["vertices"] == len(recon.vertices)
    else:
        document, _ = read_glb(outdir / "astro.glb")
        positions = [p["attributes"]["POSITION"] for p in document["meshes"][0]["primitives"]]
        assert report["vertices"] == sum(document["accessors"][a]["count"] for a in positions)
        assert report["shape_keys"] == list(ARKIT_NAMES)
        assert [512, 512] in report["images"]  # the eyes' and mouth's texture too
    assert picture.stat().st_size > 1000
