"""Many photos: a resumable batch over a folder, one output folder per image, a JSON-lines manifest.

Resuming is by content: an input whose hash has an "ok" record and whose outputs are all present and
readable is skipped; anything else is redone. Outputs are renamed into place only when complete and the
manifest line is appended after that, so a batch killed at any moment (kill -9 included) leaves nothing
a later run would trust: at worst a finished image without its manifest line, which is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from facerecon.errors import FaceReconError, MissingExtraError, OutputError
from facerecon.export.formats import DEFAULT_FORMATS

MANIFEST = "manifest.jsonl"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
EXIT_SOME_FAILED = 11


@dataclass
class BatchRecord:
    input: str
    sha256: str
    status: str  # "ok" or "error"
    error: str = ""
    exit_code: int = 0
    outputs: list[str] = field(default_factory=list)  # relative to the output folder
    seconds: float = 0.0
    folder: str = ""  # the image's own output folder (output_folder())


@dataclass
class BatchResult:
    processed: list[BatchRecord] = field(default_factory=list)  # this run's work, in completion order
    skipped: list[BatchRecord] = field(default_factory=list)  # already done by an earlier run

    @property
    def failed(self) -> list[BatchRecord]:
        return [r for r in self.processed if r.status != "ok"]


def find_images(folder: Path) -> list[Path]:
    """Files Pillow identifies as images by their content, plus files named like images (so a broken
    photo is reported rather than silently skipped); sorted, hidden files excluded."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES or _looks_like_image(path):
            found.append(path)
    return found


def run_batch(
    input_dir: Path,
    output_dir: Path,
    *,
    workers: int = 1,
    fast: bool = False,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    progress: bool = True,
    ray_address: str | None = None,
) -> BatchResult:
    """Process every image not already done (by content hash and complete outputs).

    ray_address: run the work on a Ray cluster with Ray Data ("local" starts one on this machine, bound to
    loopback, with `workers` CPUs); inputs and outputs must then be at the same paths on every node.
    """
    if output_dir.resolve().is_relative_to(input_dir.resolve()):
        raise OutputError(f"the output folder {output_dir} is inside the input folder {input_dir}: "
                          "the batch would read its own outputs back; choose one outside it")  # fmt: skip
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {output_dir}: {exc.strerror or exc}") from None
    done = completed_inputs(output_dir)
    todo, result = [], BatchResult()
    for path in find_images(input_dir):
        digest, folder = file_hash(path), output_folder(input_dir, path)
        previous = done.get((digest, folder))
        if previous is not None and outputs_complete(output_dir, previous.outputs):
            result.skipped.append(previous)
        else:
            todo.append((path, digest, folder))
    started = time.perf_counter()
    options = {"fast": fast, "formats": formats}
    with _manifest_appender(output_dir) as append:
        work = (
            _process_on_ray(todo, output_dir, options, ray_address, workers)
            if ray_address
            else _process(todo, output_dir, options, workers)
        )
        for finished, record in enumerate(work, start=1):
            append(record)
            result.processed.append(record)
            if progress:
                _progress(finished, len(todo), started)
    if progress and todo:
        print(file=sys.stderr)
    return result


def output_folder(input_dir: Path, path: Path) -> str:
    """The image's own output folder name: its relative path, flattened ("a/b.jpg" -> "a__b.jpg")."""
    return "__".join(path.relative_to(input_dir).parts)


def completed_inputs(output_dir: Path) -> dict[tuple[str, str], BatchRecord]:
    """The last "ok" record per content hash and output folder (a copy of a photo under another name
    gets its own folder); a torn last line (a killed run) is ignored."""
    done: dict[tuple[str, str], BatchRecord] = {}
    manifest = output_dir / MANIFEST
    if not manifest.exists():
        return done
    for line in manifest.read_text(errors="replace").splitlines():
        try:
            record = BatchRecord(**json.loads(line))
        except (json.JSONDecodeError, TypeError):
            continue
        if record.status == "ok":
            done[record.sha256, record.folder] = record
        else:
            done.pop((record.sha256, record.folder), None)
    return done


def outputs_complete(output_dir: Path, outputs: list[str]) -> bool:
    """Every listed output exists, is non-empty, and JSON outputs parse."""
    for name in outputs:
        path = output_dir / name
        if not path.is_file() or path.stat().st_size == 0:
            return False
        if path.suffix == ".json":
            try:
                json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                return False
    return bool(outputs)


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def process_one(path: Path, digest: str, folder: str, output_dir: Path, options: dict) -> BatchRecord:
    """Reconstruct one image into output_dir/folder; any failure becomes an error record."""
    from facerecon.pipeline import reconstruct

    start = time.perf_counter()
    target = output_dir / folder
    for leftover in target.glob(".*.tmp") if target.exists() else []:
        leftover.unlink(missing_ok=True)  # a killed run's temporary files
    try:
        faces = reconstruct(path, fast=options["fast"], texture_size=512 if options["fast"] else 1024)
        written = []
        for k, face in enumerate(faces):
            stem = path.stem if k == 0 else f"{path.stem}_face{k}"
            written += face.save(target, stem, formats=options["formats"])
        outputs = [str(p.relative_to(output_dir)) for p in written]
        return BatchRecord(str(path), digest, "ok", outputs=outputs, seconds=time.perf_counter() - start,
                           folder=folder)  # fmt: skip
    except FaceReconError as exc:
        error, code = str(exc), exc.exit_code
    except Exception as exc:  # a bug of ours must not stop the batch
        error, code = f"internal error: {exc.__class__.__name__}: {exc}", 1
    return BatchRecord(str(path), digest, "error", error, code, seconds=time.perf_counter() - start, folder=folder)


def _process(todo: list, output_dir: Path, options: dict, workers: int) -> Iterator[BatchRecord]:
    if workers <= 1 or len(todo) <= 1:
        for path, digest, folder in todo:
            yield process_one(path, digest, folder, output_dir, options)
        return
    with ProcessPoolExecutor(workers, mp_context=_worker_context(), initializer=_worker_init) as pool:
        futures = [pool.submit(process_one, p, d, f, output_dir, options) for p, d, f in todo]
        for future in as_completed(futures):
            yield future.result()


def _process_on_ray(todo: list, output_dir: Path, options: dict, address: str, workers: int) -> Iterator[BatchRecord]:
    """The same work as a Ray Data map over the inputs; the driver still writes the manifest."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError("--ray needs Ray: pip install 'facerecon[ray]'") from None
    if not todo:
        return
    if address == "local":
        ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        rows = [{"path": str(p), "digest": d, "folder": f} for p, d, f in todo]

        def run(row: dict) -> dict:
            _worker_init()
            record = process_one(Path(row["path"]), row["digest"], row["folder"], output_dir, options)
            return {"record": json.dumps(asdict(record))}  # one string column: no Arrow typing surprises

        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map(run, num_cpus=1)
        for row in dataset.iter_rows():
            yield BatchRecord(**json.loads(row["record"]))
    finally:
        ray.shutdown()


def _worker_context() -> BaseContext:
    """Not fork: torch and MediaPipe hold threads that a forked child would inherit half-alive. A fork server
    that has imported our modules (no threads yet) where the platform has one: its workers start without
    importing torch and the rest again each (12 HELEN photos, 2 workers: ~2.0 -> ~2.3 photos/s); else spawn."""
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    context = get_context("forkserver")
    context.set_forkserver_preload(["facerecon.pipeline"])
    return context


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # N workers share the cores


@contextmanager
def _manifest_appender(output_dir: Path) -> Iterator[Callable[[BatchRecord], None]]:
    """Appends one JSON line per record, flushed and fsynced so a crash cannot lose a finished record."""
    with open(output_dir / MANIFEST, "a", encoding="utf-8") as manifest:

        def append(record: BatchRecord) -> None:
            manifest.write(json.dumps(asdict(record)) + "\n")
            manifest.flush()
            os.fsync(manifest.fileno())

        yield append


def _looks_like_image(path: Path) -> bool:
    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def _progress(done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    eta = (total - done) / max(rate, 1e-9)
    filled = int(30 * done / max(total, 1))
    print(f"\r[{'#' * filled}{'-' * (30 - filled)}] {done}/{total} {rate:.2f} images/s, ETA {eta:.0f} s",
          end="", file=sys.stderr, flush=True)  # fmt: skip
