"""Batch: broken files recorded, a killed batch resumes with nothing lost or duplicated, workers agree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from conftest import SAMPLE
from PIL import Image

from facerecon.batch import EXIT_SOME_FAILED, MANIFEST, completed_inputs, outputs_complete
from facerecon.cli import main

FACE = Image.open(SAMPLE).convert("RGB")
GOOD = ("astronaut.jpg", "mirrored.png", "sub/grey.jpg", "no_extension")


def make_folder(root: Path, broken: bool = True) -> Path:
    folder = root / "photos"
    (folder / "sub").mkdir(parents=True)
    FACE.save(folder / "astronaut.jpg")
    FACE.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "mirrored.png")
    FACE.convert("L").save(folder / "sub" / "grey.jpg")
    FACE.rotate(8).save(folder / "no_extension", format="JPEG")  # an image by content only
    (folder / "notes.txt").write_text("not an image, not named like one: ignored")
    if broken:
        (folder / "truncated.jpg").write_bytes((folder / "astronaut.jpg").read_bytes()[:3000])
        (folder / "text.jpg").write_text("named like an image, is not one")
    return folder


def manifest(outdir: Path) -> list[dict]:
    return [json.loads(line) for line in (outdir / MANIFEST).read_text().splitlines()]


def check_outputs(outdir: Path) -> None:
    """Every good input has one complete, loadable output set and nothing temporary is left."""
    done = completed_inputs(outdir)
    assert len(done) == len(GOOD)
    for record in done.values():
        assert outputs_complete(outdir, record.outputs)
        obj = next(outdir / o for o in record.outputs if o.endswith(".obj"))
        # The skin's 22,288 triangles and the eyes' and mouth's 24,784.
        assert len(trimesh.load(obj, process=False, force="mesh").faces) == 22288 + 24784
    assert not list(outdir.rglob("*.tmp"))
    folders = sorted(p.name for p in outdir.iterdir() if p.is_dir())
    assert folders == sorted(name.replace("/", "__") for name in GOOD)


def test_broken_files_are_recorded_and_the_rest_done(tmp_path, capsys):
    folder, outdir = make_folder(tmp_path), tmp_path / "out"
    assert main(["batch", str(folder), "-o", str(outdir), "--fast", "--formats", "obj,json"]) == EXIT_SOME_FAILED
    records = manifest(outdir)
    by_name = {Path(r["input"]).name: r for r in records}
    assert set(by_name) == {"astronaut.jpg", "mirrored.png", "grey.jpg", "no_extension", "truncated.jpg", "text.jpg"}
    assert by_name["truncated.jpg"]["status"] == "error" and by_name["truncated.jpg"]["exit_code"] == 5
    assert by_name["text.jpg"]["status"] == "error"
    check_outputs(outdir)
    # A second run redoes only the failures.
    assert main(["batch", str(folder), "-o", str(outdir), "--fast", "--formats", "obj,json"]) == EXIT_SOME_FAILED
    assert len(manifest(outdir)) == len(records) + 2
    assert "4 already done" in capsys.readouterr().out


def test_killed_batch_resumes_without_loss_or_duplicates(tmp_path):
    folder, outdir = make_folder(tmp_path, broken=False), tmp_path / "out"
    command = [sys.executable, "-m", "facerecon", "batch", str(folder), "-o", str(outdir), "--fast",
               "--formats", "obj,json"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (outdir / MANIFEST).exists() and (outdir / MANIFEST).read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # mid-way through the second image
    process.wait()
    first = len(manifest(outdir))
    assert 1 <= first < len(GOOD)
    assert main(["batch", str(folder), "-o", str(outdir), "--fast", "--formats", "obj,json"]) == 0
    records = manifest(outdir)
    assert len(records) == len(GOOD)  # the first run's finished images were not redone
    assert len({r["sha256"] for r in records}) == len(GOOD)
    check_outputs(outdir)


@pytest.mark.skipif(os.cpu_count() is None or os.cpu_count() < 2, reason="needs 2 cores for 2 workers")
def test_two_workers_give_the_same_results(tmp_path):
    folder = make_folder(tmp_path, broken=False)
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["batch", str(folder), "-o", str(one), "--fast", "--formats", "json"]) == 0
    assert main(["batch", str(folder), "-o", str(two), "--fast", "--formats", "json", "--workers", "2"]) == 0
    for record in completed_inputs(one).values():
        name = next(o for o in record.outputs if o.endswith(".json"))
        a, b = (json.loads((root / name).read_text()) for root in (one, two))
        assert np.allclose(a["landmarks68"], b["landmarks68"], atol=0.5)
        assert a["expression"] == pytest.approx(b["expression"], abs=0.02)


def test_ray_run_equals_local_run(tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="needs Ray (pip install 'facerecon[ray]')")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    folder = make_folder(tmp_path, broken=False)
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert main(["batch", str(folder), "-o", str(local), "--fast", "--formats", "json"]) == 0
    assert main(["batch", str(folder), "-o", str(distributed), "--fast", "--formats", "json", "--ray",
                 "--workers", "2"]) == 0  # fmt: skip
    ours, theirs = completed_inputs(local), completed_inputs(distributed)
    assert set(ours) == set(theirs) and len(ours) == len(GOOD)
    for digest, record in ours.items():
        assert theirs[digest].outputs == record.outputs
        name = next(o for o in record.outputs if o.endswith(".json"))
        a, b = (json.loads((root / name).read_text()) for root in (local, distributed))
        assert np.allclose(a["landmarks68"], b["landmarks68"], atol=0.5)
