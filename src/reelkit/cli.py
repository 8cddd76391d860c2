"""The ``reelkit`` command line: one Typer app, one sub-command per capability."""

from __future__ import annotations

import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from reelkit import __version__
from reelkit.errors import OutputError, ReelkitError

app = typer.Typer(help="reelkit: read, judge and improve short-form videos.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
train_app = typer.Typer(help="Train reelkit's models on data it makes or you bring.", no_args_is_help=True)
app.add_typer(train_app, name="train")
synth_app = typer.Typer(help="Generate synthetic data with known answers (demo clips, text lines).", no_args_is_help=True)
app.add_typer(synth_app, name="synth")
console = Console(stderr=True)


def print_error(error: Exception) -> None:
    console.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)  # one line, never wrapped


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reelkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """reelkit: read, judge and improve short-form videos."""


def writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that it is a writable folder."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"output path {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".reelkit-write-test"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write to output folder {path}: {error.strerror or error}") from None
    return path


class OutputFormat(str, Enum):
    json = "json"
    srt = "srt"
    vtt = "vtt"


class Detector(str, Enum):
    ppocr = "ppocr"


class Decoder(str, Enum):
    greedy = "greedy"
    beam = "beam"


@app.command()
def overlays(
    videos: List[Path] = typer.Argument(..., help="Video files to read."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for the results (<video stem>.json, .srt, .vtt)."),
    formats: List[OutputFormat] = typer.Option([OutputFormat.json], "--format", "-f",
                                               help="Output formats; JSON is always written. Repeat for several."),
    model: str = typer.Option("crnn_small", help="Recogniser model name from the registry."),
    weights: Optional[Path] = typer.Option(None, help="Recogniser weights file (default: the shipped ones)."),
    decoder: Decoder = typer.Option(Decoder.greedy, help="CTC decoding."),
    sample_every: float = typer.Option(0.2, min=0.02, help="Seconds between frames checked for text changes."),
) -> None:
    """Extract the text overlays of videos as timed lines (JSON, SRT, WebVTT)."""
    from reelkit.text import OverlayExtractor, write_results

    out = writable_dir(out)
    extractor = OverlayExtractor.from_names(model=model, weights=weights, decoder=decoder.value,
                                            sample_every=sample_every)
    failures = 0
    with progress_bar() as progress:
        for video in videos:
            task = progress.add_task(f"{video.name}", total=None)
            try:
                lines = extractor(video, progress=lambda done, total: progress.update(task, completed=done, total=total))
            except ReelkitError as error:
                progress.update(task, description=f"[red]{video.name}: failed")
                print_error(error)
                failures += 1
                continue
            written = write_results(lines, out / video.stem, {f.value for f in formats} | {"json"})
            progress.update(task, description=f"{video.name}: {len(lines)} lines -> {', '.join(p.name for p in written)}")
    if failures:
        raise typer.Exit(2)


@train_app.command("crnn")
def train_crnn_command(
    out: Path = typer.Option(Path("src/reelkit/weights/crnn_small.safetensors"), help="Weights file to write."),
    model: str = typer.Option("crnn_small", help="CRNN config: crnn (paper), crnn_small, crnn_tiny."),
    samples: int = typer.Option(160_000, min=1, help="Synthetic training lines."),
    heldout: int = typer.Option(2_000, min=1, help="Held-out evaluation lines."),
    epochs: int = typer.Option(2, min=1),
    batch_size: int = typer.Option(64, min=1),
    lr: Optional[float] = typer.Option(None, min=0.0, help="Peak learning rate (default: the optimiser's own)."),
    optim: str = typer.Option("adam", help="adam, adamw, sgd, adadelta (the paper's) or kafisto."),
    seed: int = typer.Option(0),
    workers: int = typer.Option(2, min=1, help="Processes that synthesise the data."),
    eval_every: int = typer.Option(500, min=1, help="Steps between held-out evaluations."),
    init: Optional[Path] = typer.Option(None, help="Weights file to fine-tune from (default: train from scratch)."),
) -> None:
    """Train the CRNN recogniser on synthetic text lines; writes weights, model card and curve."""
    from reelkit.optim import OPTIMIZERS
    from reelkit.text.models import CONFIGS
    from reelkit.text.train import CRNNTrainConfig, train_crnn, write_outputs

    if model not in CONFIGS:
        raise ReelkitError(f"unknown CRNN config {model!r}; choose one of {', '.join(CONFIGS)}")
    if optim not in OPTIMIZERS:
        raise ReelkitError(f"unknown optimiser {optim!r}; choose one of {', '.join(OPTIMIZERS)}")
    if init is not None:  # unusable starting weights fail before anything is created
        from reelkit.registry import create_model

        create_model(model, weights=init)
    writable_dir(out.parent)
    config = CRNNTrainConfig(model=model, samples=samples, heldout_samples=heldout, epochs=epochs,
                             batch_size=batch_size, lr=lr, optim=optim, seed=seed, workers=workers,
                             eval_every=eval_every, init=str(init) if init else None)
    command = "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with progress_bar() as progress:
        trained, result = train_crnn(config, progress=progress, log=console.print)
    write_outputs(trained, config, result, out, command)
    console.print(f"wrote {out} and its model card {out.with_suffix('.md')}")


@train_app.command("gan")
def train_gan_command(
    out: Path = typer.Option(Path("runs/gan"), "--out", "-o", help="Folder for weights, samples, curves and metrics."),
    data: str = typer.Option("fashion", help="fashion (Debian Fashion-MNIST), ring8 or grid25 (2-D mixtures)."),
    model: Optional[str] = typer.Option(None, help="GAN config (default: sngan_28_small, or mlp_2d for mixtures)."),
    loss: str = typer.Option("hinge", help="hinge, ns (non-saturating), kdd, or hinge+kdd (KDD as a regulariser)."),
    optim: str = typer.Option("adam", help="adam (beta 0, 0.9, two timescales) or kafisto (its defaults)."),
    steps: int = typer.Option(2000, min=1, help="Generator steps."),
    batch_size: int = typer.Option(64, min=2),
    n_dis: int = typer.Option(1, min=1, help="Discriminator steps per generator step."),
    lr_g: float = typer.Option(1e-4, min=0.0),
    lr_d: float = typer.Option(4e-4, min=0.0),
    sigma: float = typer.Option(0.5, min=1e-6, help="KDD kernel bandwidth on the unit sphere."),
    kdd_weight: float = typer.Option(1.0, min=0.0, help="Weight of KDD when it regularises the hinge loss."),
    seed: int = typer.Option(0),
    evaluate: bool = typer.Option(True, help="FID/KID (fashion) or mode coverage (mixtures) after training."),
) -> None:
    """Train a GAN with the hinge, non-saturating or KDD loss; writes weights, samples, curves, metrics."""
    from reelkit.gan.train import GANTrainConfig, evaluate_generator, train_gan, write_gan_outputs

    if optim not in ("adam", "kafisto"):
        raise ReelkitError(f"unknown optimiser {optim!r}; choose adam or kafisto")
    model = model or ("mlp_2d" if data in ("ring8", "grid25") else "sngan_28_small")
    config = GANTrainConfig(data=data, model=model, loss=loss, optim=optim, steps=steps, batch_size=batch_size,
                            n_dis=n_dis, lr_g=lr_g, lr_d=lr_d, sigma=sigma, kdd_weight=kdd_weight, seed=seed)
    try:
        config.validate()
    except ValueError as error:
        raise ReelkitError(str(error)) from None
    if evaluate and data == "fashion":  # fail before training, not after, when the FID network is missing
        from reelkit.registry import create_model

        create_model("fashion_cnn", pretrained=True)
    writable_dir(out)
    command = "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with progress_bar() as progress:
        generator, discriminator, result = train_gan(config, progress=progress, log=console.print)
    metrics = {}
    if evaluate:
        with console.status("evaluating: " + ("modes covered" if model == "mlp_2d" else "FID and KID of 10,000 samples")):
            metrics = evaluate_generator(generator, config)
    write_gan_outputs(generator, discriminator, config, result, metrics, out, command)
    console.print(f"{', '.join(f'{k} {v:.4g}' for k, v in metrics.items())}; wrote {out}/")


@train_app.command("fashion-classifier")
def train_fashion_classifier_command(
    out: Path = typer.Option(Path("src/reelkit/weights/fashion_cnn.safetensors"), help="Weights file to write."),
    epochs: int = typer.Option(4, min=1),
    batch_size: int = typer.Option(128, min=1),
    seed: int = typer.Option(0),
) -> None:
    """Train the Fashion-MNIST CNN whose features define reelkit's FID and KID; writes weights and card."""
    from reelkit.gan.train import ClassifierTrainConfig, train_fashion_classifier, write_classifier_card

    writable_dir(out.parent)
    config = ClassifierTrainConfig(epochs=epochs, batch_size=batch_size, seed=seed)
    command = "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with progress_bar() as progress:
        model, metrics = train_fashion_classifier(config, progress=progress, log=console.print)
    write_classifier_card(model, config, metrics, out, command)
    console.print(f"test accuracy {metrics['test_accuracy']:.4f}; wrote {out} and {out.with_suffix('.md')}")


class Split(str, Enum):
    train = "train"
    heldout = "heldout"


@synth_app.command("clip")
def synth_clip(
    out: Path = typer.Argument(..., help="The .mp4 file to write; its ground truth goes beside it as .truth.json."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same clip."),
    width: int = typer.Option(720, min=64, max=3840),
    height: int = typer.Option(1280, min=64, max=3840),
    duration: float = typer.Option(8.0, min=1.0, max=600.0, help="Seconds."),
    fps: int = typer.Option(30, min=1, max=120),
    split: Split = typer.Option(Split.heldout, help="Fonts, backgrounds and text never seen in training (heldout) or not."),
) -> None:
    """Render an H.264 clip with changing captions and a persistent handle, and its ground-truth lines."""
    import json

    import numpy as np

    from reelkit.text.formats import atomic_write
    from reelkit.text.synth import ClipGenerator, write_clip

    if out.suffix.lower() != ".mp4":
        raise OutputError(f"{out}: the clip is written as H.264 in MP4, so the name must end in .mp4")
    writable_dir(out.parent)
    generator = ClipGenerator(split.value)
    spec = generator.spec(np.random.default_rng(seed), width - width % 2, height - height % 2, duration, fps)
    partial = out.with_name(f".{out.stem}.part.mp4")
    try:
        with progress_bar() as progress:
            task = progress.add_task(f"rendering {out.name}", total=int(round(duration * fps)))
            write_clip(spec, partial, on_frame=lambda: progress.advance(task))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    truth = out.with_suffix(".truth.json")
    atomic_write(truth, json.dumps(generator.ground_truth(spec), indent=2) + "\n")
    console.print(f"wrote {out} and {truth}")


def main() -> None:
    """Entry point: a ReelkitError becomes one line on stderr and exit code 2."""
    try:
        app()
    except ReelkitError as error:
        print_error(error)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]")
        sys.exit(130)
