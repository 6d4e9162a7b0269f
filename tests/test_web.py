"""The web app in a real headless Chromium (playwright-core), and its refusals."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE, shared_path

pytest.importorskip("gradio", reason="the web app needs Gradio (pip install 'facerecon[web]')")
PLAYWRIGHT = ROOT / ".ci/node/node_modules/playwright-core"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "facerecon", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the web app did not start within 90 s")
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.skipif(shutil.which("node") is None or not Path(CHROMIUM).exists(),
                    reason="needs node and Debian's chromium (.ci/run installs them)")  # fmt: skip
def test_upload_view_and_download_in_a_real_browser(server, tmp_path):
    if not PLAYWRIGHT.exists():
        pytest.skip(f"needs playwright-core at {PLAYWRIGHT} (.ci/run installs it)")
    screenshot = tmp_path / "web_app.png"
    result = subprocess.run(
        ["node", str(ROOT / "tests/js/web_app.js"), server, str(SAMPLE), str(screenshot)],
        capture_output=True, text=True, timeout=400,
        env=os.environ | {"PLAYWRIGHT_CORE": str(PLAYWRIGHT), "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in report, report
    links = [d["href"] for d in report["downloads"]]
    assert [Path(link).suffix for link in links] == [".glb", ".zip", ".json"]
    assert report["status"].startswith("Done")
    assert urllib.request.urlopen(links[0]).read(4) == b"glTF"
    assert screenshot.stat().st_size > 10_000


def test_files_outside_the_output_folder_are_not_served(server):
    for path in ("/etc/passwd", str(SAMPLE), str(ROOT / "pyproject.toml")):
        for prefix in ("gradio_api/file=", "file="):
            with pytest.raises(urllib.error.HTTPError) as refused:  # any answer with content fails the test
                urllib.request.urlopen(server + prefix + path, timeout=10)
            assert refused.value.code in (403, 404, 405), (path, refused.value.code)


def test_refusals(tmp_path):
    """Non-images, faceless photos and oversized files get a clear message, not a traceback."""
    import gradio as gr

    from facerecon.web import MAX_UPLOAD_MB, build_app

    app = build_app(tmp_path / "out")
    run = next(fn.fn for fn in app.fns.values() if fn.name == "run")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    black = tmp_path / "black.png"
    from PIL import Image

    Image.new("RGB", (300, 300)).save(black)
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * (MAX_UPLOAD_MB * 1024 * 1024 + 10))
    for path, words in ((text, "not an image"), (black, "No face"), (big, "larger than"), (None, "Choose")):
        with pytest.raises(gr.Error) as exc:
            run(None if path is None else str(path))
        assert words in str(exc.value.message), exc.value.message


def test_sliders_repose_the_mesh(tmp_path, astronaut):
    from facerecon.web import SLIDERS, _with_expression

    face = astronaut[0]
    opened = _with_expression(face, {"jawOpen": 1.0})
    moved = abs(opened.vertices - face.vertices).max(axis=1)
    assert moved.max() > 0.5  # cm: the jaw dropped
    assert opened.expression["jawOpen"] == 1.0 and face.expression["jawOpen"] != 1.0
    same = _with_expression(face, {name: face.expression[name] for name in SLIDERS})
    assert abs(same.vertices - face.vertices).max() < 1e-4


def test_four_uploads_at_once_each_get_their_own_files(tmp_path):
    """Four users at once: every request succeeds and writes its own folder with its own face."""
    from concurrent.futures import ThreadPoolExecutor

    from facerecon.web import build_app

    photos = [SAMPLE, *sorted(shared_path("faces/helen_test").glob("*.jpg"))[:3]]
    app = build_app(tmp_path / "out")
    run = next(fn.fn for fn in app.fns.values() if fn.name == "run")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: run(str(p)), photos))
    folders = {Path(result[3][0]).parent for result in results}
    assert len(folders) == 4
    for photo, result in zip(photos, results, strict=True):
        assert result[4].startswith("Done")
        record = json.loads(Path(result[3][2]).read_text())
        assert record["source"] == str(photo)
