"""Command-line front end of :mod:`reelkit.faces`: ``reelkit faces IMAGE|VIDEO... -o OUT`` and
``reelkit train emotionaldan``, registered on the main app by :mod:`reelkit.cli`.

Errors are :class:`~reelkit.errors.FaceError` (or :class:`~reelkit.errors.VideoError` for videos); the main
entry point prints them on one line and exits with code 2.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import typer

from reelkit.errors import FaceError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif"}
SHEET_TILES = 12
# Longer side video frames are searched at: the detector looks at 416 px and EmotionalDAN at 112-px crops, so a
# 4K frame holds nothing a 1080p one does not, at four times the decoding-to-RGB cost.
VIDEO_SIDE = 1920


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> np.ndarray:
    """An RGB uint8 array, or a one-line :class:`FaceError` saying why the file is not a usable image."""
    from reelkit.images import read_image as read_any_image

    return read_any_image(path, FaceError)


def check_inputs(inputs: list[Path]) -> None:
    """Fail in one line on the first unusable input, before models load or anything is written."""
    from reelkit.errors import VideoError
    from reelkit.video import VIDEO_SUFFIXES, probe

    if not inputs:
        raise FaceError("give at least one image or video")
    for path in inputs:
        if is_image(path):
            read_image(path)
        elif path.is_dir():
            raise FaceError(f"{path}: is a folder, not an image or video file")
        elif not path.exists():
            raise FaceError(f"{path}: no such image or video file")
        else:
            try:  # FFmpeg decides by content: a video under another extension still opens
                probe(path)
            except VideoError:
                if path.suffix.lower() in VIDEO_SUFFIXES:
                    raise  # an empty, corrupt or unsupported video: the video reader's own words
                kind = f"a {path.suffix.lower()} file" if path.suffix else "a file without an extension"
                raise FaceError(f"{path}: {kind} is neither an image nor a video format reelkit reads (images: "
                                "PNG, JPEG, HEIC, WebP, BMP, ...; videos: MP4, MOV, MKV, WebM, AVI, ...)") from None


def video_faces(analyzer, path: Path, every: float, on_sample=None,  # noqa: ANN001
                max_side: int = VIDEO_SIDE) -> tuple[list[dict[str, Any]], list]:
    """Faces of frames sampled every ``every`` seconds (each entry with its "time"), in pixels of the video,
    and annotated tiles of the sampled frames that show faces (at most a few dozen, evenly thinned). Frames
    are read shrunk to a longer side of ``max_side`` (0: full size)."""
    from reelkit.faces.pipeline import annotate
    from reelkit.video import VideoReader

    reader = VideoReader(path, max_side=max_side)
    x_scale, y_scale = reader.to_video_scale
    entries: list[dict[str, Any]] = []
    tiles: list = []
    next_time = 0.0
    for frame in reader:
        if frame.time + 0.5 / reader.info.fps < next_time:
            continue
        next_time = frame.time + every
        rgb = frame.rgb()
        faces = analyzer(rgb)
        for face in faces:
            entries.append({"time": round(frame.time, 2), **_in_video_pixels(face, x_scale, y_scale)})
        if faces:
            tile = annotate(rgb, faces)
            tile.thumbnail((480, 480))
            tiles.append((frame.time, tile))
            if len(tiles) > 4 * SHEET_TILES:
                tiles = tiles[::2]
        if on_sample:
            on_sample()
    return entries, tiles


def _in_video_pixels(face: dict[str, Any], x_scale: float, y_scale: float) -> dict[str, Any]:
    if x_scale == y_scale == 1:
        return face
    x0, y0, x1, y1 = face["box"]
    return {**face, "box": [round(x0 * x_scale, 1), round(y0 * y_scale, 1), round(x1 * x_scale, 1),
                            round(y1 * y_scale, 1)],
            "landmarks": [[round(x * x_scale, 1), round(y * y_scale, 1)] for x, y in face["landmarks"]]}


def contact_sheet(tiles: list, columns: int = 4):
    """Annotated frames in a grid, each labelled with its time."""
    from PIL import Image, ImageDraw

    from reelkit.faces.pipeline import _font

    if len(tiles) > SHEET_TILES:
        picks = np.linspace(0, len(tiles) - 1, SHEET_TILES).round().astype(int)
        tiles = [tiles[i] for i in picks]
    width = max(t.size[0] for _, t in tiles)
    height = max(t.size[1] for _, t in tiles)
    columns = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    caption, gap = 20, 6
    sheet = Image.new("RGB", (columns * (width + gap) + gap, rows * (height + caption + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (time, tile) in enumerate(tiles):
        x = gap + (index % columns) * (width + gap)
        y = gap + (index // columns) * (height + caption + gap)
        draw.text((x, y), f"{time:.1f} s", fill=(0, 0, 0), font=_font(14))
        sheet.paste(tile, (x, y + caption))
    return sheet


def faces_json(faces: list[dict[str, Any]]) -> str:
    """The faces as a JSON list, one face per line."""
    return "[\n" + ",\n".join(json.dumps(face) for face in faces) + ("\n]\n" if faces else "]\n")


def save_image(image, path: Path) -> None:
    from reelkit.errors import OutputError

    partial = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        image.convert("RGB").save(partial, quality=90)
        partial.replace(path)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        partial.unlink(missing_ok=True)


def faces_command(
    inputs: List[Path] = typer.Argument(..., help="Images or videos to read faces from."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for <stem>.json and <stem>_faces.jpg."),
    every: float = typer.Option(1.0, "--every", min=0.05, help="Seconds between the video frames analysed."),
    model: str = typer.Option("emotionaldan_small", help="EmotionalDAN config from the registry."),
    weights: Optional[Path] = typer.Option(None, help="Weights from `reelkit train emotionaldan` (default: shipped)."),
    detector_size: int = typer.Option(416, help="Face detector input size in pixels (a multiple of 32; 320 is about a "
                                                "third faster but misses faces under 1/8 of the image)."),
    min_score: float = typer.Option(0.5, min=0.01, max=0.99, help="Lowest face detector score kept."),
    max_faces: Optional[int] = typer.Option(None, min=1, help="Analyse at most this many faces per image (largest first)."),
) -> None:
    """Find faces, their 68 landmarks and emotions: OUT/<stem>.json (one entry per face; for a video, per
    face per sampled frame, with its time) and OUT/<stem>_faces.jpg (boxes, landmarks, top emotion)."""
    from reelkit.cli import console, counted, progress_bar, writable_dir
    from reelkit.faces.detect import FaceDetector
    from reelkit.faces.pipeline import EmotionalDANPredictor, FaceAnalyzer, annotate
    from reelkit.text.formats import atomic_write
    from reelkit.video import probe

    if detector_size % 32 or not 64 <= detector_size <= 1024:
        raise FaceError(f"--detector-size must be a multiple of 32 between 64 and 1024, got {detector_size}")
    check_inputs(inputs)
    stems = [p.stem for p in inputs]
    if len(set(stems)) != len(stems):
        raise FaceError("two inputs share a file name stem; their results would overwrite each other")
    analyzer = FaceAnalyzer(FaceDetector(detector_size, min_score), EmotionalDANPredictor.from_name(model, weights),
                            max_faces=max_faces)
    out = writable_dir(out)
    for path in inputs:
        if is_image(path):
            rgb = read_image(path)
            faces = analyzer(rgb)
            image = annotate(rgb, faces)
        else:
            info = probe(path)
            with progress_bar() as progress:
                total = max(1, math.ceil(info.duration / every)) if info.duration > 0 else None
                task = progress.add_task(path.name, total=total)
                faces, tiles = video_faces(analyzer, path, every, lambda: progress.advance(task))
                progress.update(task, total=progress.tasks[task].completed)
            if tiles:
                image = contact_sheet(tiles)
            else:  # no face anywhere: the first frame, unannotated, says so by its emptiness
                from reelkit.video import VideoReader

                image = annotate(next(iter(VideoReader(path))).rgb(), [])
        atomic_write(out / f"{path.stem}.json", faces_json(faces))
        save_image(image, out / f"{path.stem}_faces.jpg")
        console.print(f"{path.name}: {counted(len(faces), 'face')} -> "
                      f"{out / (path.stem + '.json')}, {out / (path.stem + '_faces.jpg')}", highlight=False)


def train_emotionaldan_command(
    out: Path = typer.Option(Path("src/reelkit/weights/emotionaldan_small.safetensors"), help="Weights file to write."),
    model: str = typer.Option("emotionaldan_small", help="emotionaldan_small, emotionaldan_tiny or emotionaldan_full (paper scale)."),
    data: Optional[Path] = typer.Option(None, help="Folder with labels.csv and images/ (default: "
                                                   "../shared/data/facial_expressions beside the checkout)."),
    cache: Path = typer.Option(Path("runs/faces/landmarks.npz"), help="Teacher landmarks cache (made on first use)."),
    epochs: List[int] = typer.Option([6, 12], "--epochs", help="Epochs of each stage, in order (repeat per stage)."),
    batch_size: int = typer.Option(64, min=2),
    lr: Optional[float] = typer.Option(1e-3, min=0.0, help="Learning rate (cosine decay); none for KaFiStO's own."),
    optim: str = typer.Option("adam", help="adam (DAN's), adamw, sgd or kafisto."),
    landmark_weight: float = typer.Option(0.5, min=0.0, help="Weight of the landmark term; 0 is the papers' ablation."),
    emotion_weight: float = typer.Option(0.5, min=0.0, help="Weight of the emotion cross-entropy."),
    class_weighting: str = typer.Option("sqrt", help="Cross-entropy class weights: none, sqrt or balanced."),
    translation: float = typer.Option(0.1, min=0.0, help="Initial-shape perturbation: shift std, a share of the face's "
                                                        "width and height (DAN: 0.2)."),
    rotation: float = typer.Option(10.0, min=0.0, help="Initial-shape perturbation: rotation std in degrees (DAN: 20)."),
    scale: float = typer.Option(0.1, min=0.0, max=0.5, help="Initial-shape perturbation: scale std around 1 (DAN: 0.25)."),
    seed: int = typer.Option(0),
    threads: int = typer.Option(2, min=1, help="CPU threads for PyTorch."),
    max_train: Optional[int] = typer.Option(None, min=8, help="Train on only this many training photos."),
) -> None:
    """Train EmotionalDAN on the labelled faces (landmark targets from face-api); writes weights, card, curve."""
    from reelkit.cli import console, progress_bar, writable_dir
    from reelkit.faces.data import DEFAULT_DIR
    from reelkit.faces.train import EmotionalDANTrainConfig, train_emotionaldan, write_emotionaldan_outputs
    from reelkit.optim import OPTIMIZERS

    if optim not in OPTIMIZERS:
        raise FaceError(f"unknown optimiser {optim!r}; choose one of {', '.join(OPTIMIZERS)}")
    config = EmotionalDANTrainConfig(model=model, data=str(data or DEFAULT_DIR), cache=str(cache), stage_epochs=tuple(epochs),
                                     batch_size=batch_size, lr=None if optim == "kafisto" else lr, optim=optim,
                                     landmark_weight=landmark_weight, emotion_weight=emotion_weight,
                                     class_weighting=class_weighting, translation=translation, rotation=rotation,
                                     scale=scale, seed=seed, threads=threads, max_train=max_train)
    config.validate()
    writable_dir(out.parent)
    command = "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with progress_bar() as progress:
        model_, result = train_emotionaldan(config, progress=progress, log=console.print)
    written = write_emotionaldan_outputs(model_, config, result, out, command)
    test = result.metrics["test"]
    console.print(f"test accuracy {test['accuracy']:.3f}, macro-F1 {test['macro_f1']:.3f}, landmark error "
                  f"{test['landmark_error']:.4f}; wrote {', '.join(map(str, written))}")
