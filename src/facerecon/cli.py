"""Command line: `facerecon reconstruct`, `facerecon demo`, and the classic `facerecon --input IMAGE`.

Errors print one line to stderr and exit with the code of their kind (README, "Exit codes").
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from facerecon import __version__
from facerecon.errors import FaceReconError, InputNotFoundError, NotAFileError
from facerecon.export.formats import DEFAULT_FORMATS, FORMATS, GLB_TEXTURES

SAMPLE_PHOTO = Path(__file__).parent / "data" / "astronaut.jpg"
EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run_command(parser, args)
    except FaceReconError as exc:
        return report(exc)
    except KeyboardInterrupt:
        print("facerecon: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: one line, or the traceback with --debug
        if args.debug:
            traceback.print_exc()
        else:
            print(f"facerecon: internal error: {exc.__class__.__name__}: {exc} (run with --debug for the traceback)",
                  file=sys.stderr)  # fmt: skip
        return EXIT_INTERNAL


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The chosen command; returns its exit code."""
    if args.command == "reconstruct":
        return reconstruct_images(
            args.images,
            Path(args.output),
            bbox=args.bbox,
            max_faces=args.max_faces,
            photometric=not args.no_photometric,
            fast=args.fast,
            turntable=args.turntable,
            formats=args.formats,
            glb_texture=args.glb_texture,
            model_path=args.model,
            debug=args.debug,
        )
    if args.command == "serve":
        from facerecon.web import serve

        serve(args.host, args.port)
        return 0
    if args.command == "batch":
        return batch_folder(Path(args.input_dir), Path(args.output), workers=args.workers, fast=args.fast,
                            formats=args.formats, ray_address=args.ray)  # fmt: skip
    if args.command == "video":
        return reconstruct_video_file(Path(args.video), Path(args.output), keyframes=args.keyframes,
                                      smoothing=not args.no_smoothing, fast=args.fast)  # fmt: skip
    if args.command == "demo":
        return reconstruct_images([str(SAMPLE_PHOTO)], Path(args.output), turntable=True)
    if args.input:
        return reconstruct_images([args.input], Path.cwd(), stem="output_3d", max_faces=1)
    parser.print_usage(sys.stderr)
    print("facerecon: error: give a command, or --input IMAGE", file=sys.stderr)
    return EXIT_USAGE


def reconstruct_images(
    images: list[str],
    outdir: Path,
    *,
    stem: str | None = None,
    bbox: list[float] | None = None,
    max_faces: int | None = None,
    photometric: bool = True,
    fast: bool = False,
    turntable: bool = False,
    formats: tuple[str, ...] = DEFAULT_FORMATS,
    glb_texture: str = "jpeg",
    model_path: str | None = None,
    debug: bool = False,
) -> int:
    """Reconstruct each image and save one file set per face; returns the exit code (the first failure's)."""
    from facerecon.model.face_model import load_face_model
    from facerecon.pipeline import Reconstructor

    # A broken asset fails every image: main() reports it once.
    reconstructor = Reconstructor(load_face_model(model_path)) if model_path else Reconstructor.shared()
    exit_code = 0
    for image in images:
        try:
            faces = reconstructor.reconstruct(image, bbox=bbox, max_faces=max_faces, photometric=photometric, fast=fast)
            base = stem or Path(image).stem
            for k, face in enumerate(faces):
                name = base if k == 0 else f"{base}_face{k}"
                written = face.save(outdir, name, formats=formats, turntable=turntable, glb_texture=glb_texture)
                print(f"{image}: face {k} -> {written[0]}")
        except FaceReconError as exc:
            exit_code = exit_code or report(exc)
        except Exception as exc:  # a bug of ours: still one line (or the traceback), and the other images go on
            if debug:
                traceback.print_exc()
            print(f"facerecon: internal error on {image}: {exc.__class__.__name__}: {exc}", file=sys.stderr)
            exit_code = exit_code or EXIT_INTERNAL
    return exit_code


def batch_folder(
    input_dir: Path, output_dir: Path, *, workers: int, fast: bool, formats: tuple[str, ...], ray_address: str | None
) -> int:
    from facerecon.batch import EXIT_SOME_FAILED, run_batch

    if not input_dir.exists():
        raise InputNotFoundError(f"no such folder: {input_dir}")
    if not input_dir.is_dir():
        raise NotAFileError(f"not a folder: {input_dir}")
    result = run_batch(input_dir, output_dir, workers=workers, fast=fast, formats=formats, ray_address=ray_address)
    seconds = sum(r.seconds for r in result.processed)
    print(
        f"batch: {len(result.processed) - len(result.failed)} done, {len(result.failed)} failed, "
        f"{len(result.skipped)} already done; {seconds:.1f} s of work; manifest {output_dir / 'manifest.jsonl'}"
    )
    for record in result.failed:
        print(f"  failed: {record.input}: {record.error}", file=sys.stderr)
    return EXIT_SOME_FAILED if result.failed else 0


def reconstruct_video_file(path: Path, outdir: Path, *, keyframes: int, smoothing: bool, fast: bool) -> int:
    from facerecon.export.video_files import save_video
    from facerecon.video import read_video, reconstruct_video

    frames, fps, total = read_video(path)
    try:
        video = reconstruct_video(frames, fps, keyframes=keyframes, smoothing=smoothing, textured=not fast,
                                  progress=True, total=total)  # fmt: skip
    except FaceReconError:
        print(file=sys.stderr)  # end the progress bar's line before the error's
        raise
    again = None if fast else read_video(path)[0]  # the overlay needs the frames once more
    written = save_video(video, outdir, path.stem, again)
    seconds = video.stats["seconds"]
    print(f"{path}: {video.stats['frames']} frames, face in {video.stats['detected']}, "
          f"{video.stats['frames'] / seconds:.1f} frames/s -> {written[0].parent}")  # fmt: skip
    return 0


def report(exc: FaceReconError) -> int:
    """The one-line error every command prints; returns the error's exit code."""
    print(f"facerecon: error: {exc}", file=sys.stderr)
    return exc.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facerecon", description="One photo -> a textured, animatable 3D face (OBJ + MTL + PNG, JSON)."
    )
    parser.add_argument("--input", metavar="IMAGE", help="reconstruct IMAGE into ./output_3d.obj (+ .mtl, texture)")
    parser.add_argument("--version", action="version", version=f"facerecon {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    sub = parser.add_subparsers(dest="command")

    rec = sub.add_parser("reconstruct", help="reconstruct the faces in one or more photos")
    rec.add_argument("images", nargs="+", metavar="IMAGE")
    rec.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    rec.add_argument("--bbox", type=parse_bbox, metavar="x0,y0,x1,y1", help="only the face in this box (pixels)")
    rec.add_argument("--max-faces", type=positive_int, metavar="N", help="keep the N largest faces")
    mode = rec.add_mutually_exclusive_group()
    mode.add_argument("--fast", action="store_true", help="regressor + 2 landmark steps, no photometric fit")
    mode.add_argument("--no-photometric", action="store_true", help="landmark fit only (no lighting/albedo)")
    rec.add_argument("--turntable", action="store_true", help="also write <stem>_turntable.gif")
    rec.add_argument(
        "--formats",
        type=parse_formats,
        default=DEFAULT_FORMATS,
        metavar="LIST",
        help=f"comma-separated mesh formats from {','.join(FORMATS)} (default {','.join(DEFAULT_FORMATS)})",
    )
    rec.add_argument("--glb-texture", choices=GLB_TEXTURES, default="jpeg",
                     help="the GLB's skin texture: jpeg (default, smaller) or png (lossless)")  # fmt: skip
    rec.add_argument("--model", metavar="NPZ", help="another face model asset (default: the shipped one)")

    batch = sub.add_parser("batch", help="every image in a folder (resumable; one output folder per image)")
    batch.add_argument("input_dir", metavar="INPUT_DIR")
    batch.add_argument("-o", "--output", required=True, metavar="OUTPUT_DIR")
    batch.add_argument("--workers", type=positive_int, default=1, metavar="N", help="worker processes")
    batch.add_argument("--fast", action="store_true", help="as reconstruct --fast, 512² textures")
    batch.add_argument("--formats", type=parse_formats, default=DEFAULT_FORMATS, metavar="LIST")
    batch.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                       help="run on a Ray cluster (ray://host:10001 or host:6379); alone: a local Ray")  # fmt: skip

    vid = sub.add_parser("video", help="a video -> ARKit curves (CSV), animated GLB, per-frame JSON, overlay MP4")
    vid.add_argument("video", metavar="VIDEO")
    vid.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    vid.add_argument("--keyframes", type=positive_int, default=8, help="frames the shared identity is fitted on")
    vid.add_argument("--no-smoothing", action="store_true", help="independent per-frame fits, no One-Euro filter")
    vid.add_argument("--fast", action="store_true", help="the curves only (CSV, JSON): no textured GLB, no overlay MP4")

    web = sub.add_parser("serve", help="the web app (Gradio): upload, 3D viewer, ARKit sliders, downloads")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=positive_int, default=7860)

    demo = sub.add_parser("demo", help="reconstruct the bundled sample photo")
    demo.add_argument("-o", "--output", default="facerecon_demo", metavar="OUTDIR")
    return parser


def parse_bbox(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not four numbers: {text!r}") from None
    if len(values) != 4 or values[2] <= values[0] or values[3] <= values[1]:
        raise argparse.ArgumentTypeError(f"need x0,y0,x1,y1 with x1 > x0 and y1 > y0: {text!r}")
    return values


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"formats must come from {','.join(FORMATS)}: {text!r}")
    return formats


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"need a positive integer: {text!r}")
    return int(text)


if __name__ == "__main__":
    sys.exit(main())
