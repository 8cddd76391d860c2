"""The ``reelkit`` command line: one Typer app, one sub-command per capability."""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from reelkit import __version__
from reelkit.errors import OutputError, ReelkitError, TextError
from typer.exceptions import TyperException

app = typer.Typer(help="reelkit: read, judge and improve short-form videos.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
train_app = typer.Typer(help="Train reelkit's models on data it makes or you bring.", no_args_is_help=True)
app.add_typer(train_app, name="train")
synth_app = typer.Typer(help="Generate synthetic data with known answers (demo clips, text lines).", no_args_is_help=True)
app.add_typer(synth_app, name="synth")
console = Console(stderr=True, soft_wrap=True)  # log lines stay whole in files and pipes


def counted(count: int, noun: str) -> str:
    """"1 face", "2 faces": counts in the commands' summaries."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def print_error(error: Exception) -> None:
    console.print(f"[red]error:[/] {error}", highlight=False)


class _FirstTaskProgress(Progress):
    """A progress display that starts drawing at its first task, and is wiped when the command fails: a failed
    command leaves only its one-line error, which says how far it got."""

    def start(self) -> None:
        pass

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> TaskID:
        if not self.live.is_started:
            super().start()
        return super().add_task(description, *args, **kwargs)

    def stop(self) -> None:
        if not self.live.is_started:
            return
        if self.live.transient:  # Progress.stop would end a line that a wiped display never drew in a pipe
            self.live.stop()
        else:
            super().stop()

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_type is not None:
            self.live.transient = True
        super().__exit__(exc_type, exc_value, traceback)


def progress_bar() -> Progress:
    return _FirstTaskProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reelkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """reelkit: read, judge and improve short-form videos."""


# Folders this command made (the first missing one of each path): a command that fails removes those it left empty.
_made_dirs: list[Path] = []


def writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check that it is a writable folder."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"output path {path} exists and is not a folder")
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    if missing:
        _made_dirs.append(missing[-1])
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
    lexicon: bool = typer.Option(True, help="Replace a word missing from an English word list by a listed word "
                                            "the recogniser finds about as likely (CRNN lexicon decoding)."),
    words: Optional[Path] = typer.Option(None, help="A text file of words to add to the word list: your names, "
                                                   "brands and slang (separated by spaces or lines)."),
    sample_every: float = typer.Option(0.2, min=0.02, help="Seconds between frames checked for text changes."),
) -> None:
    """Extract the text overlays of videos as timed lines (JSON, SRT, WebVTT)."""
    from reelkit.text import OverlayExtractor, write_results
    from reelkit.text.lexicon import read_word_list
    from reelkit.video import probe

    if words is not None and not lexicon:
        raise TextError("--words adds to the lexicon, which --no-lexicon turns off: drop one of them")
    extra_words = read_word_list(words) if words is not None else []

    failures = 0
    readable = []
    for video in videos:  # unreadable videos are reported now; the others are still read
        try:
            probe(video)
            readable.append(video)
        except ReelkitError as error:
            print_error(error)
            failures += 1
    if not readable:
        raise typer.Exit(2)
    out = writable_dir(out)
    extractor = OverlayExtractor.from_names(model=model, weights=weights, decoder=decoder.value,
                                            sample_every=sample_every, lexicon=lexicon, words=extra_words)
    with progress_bar() as progress:
        for video in readable:
            task = progress.add_task(f"{video.name}", total=None)
            try:
                lines = extractor(video, progress=lambda done, total: progress.update(task, completed=done, total=total))
            except ReelkitError as error:
                progress.update(task, description=f"[red]{video.name}: failed")
                print_error(error)
                failures += 1
                continue
            written = write_results(lines, out / video.stem, {f.value for f in formats} | {"json"})
            names = ", ".join(p.name for p in written)
            progress.update(task, description=f"{video.name}: {counted(len(lines), 'line')} -> {names}")
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
    handle_share: float = typer.Option(0.06, min=0.0, max=0.8, help="Share of training phrases that are @handles."),
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
                             eval_every=eval_every, init=str(init) if init else None, handle_share=handle_share)
    command = "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with progress_bar() as progress:
        trained, result = train_crnn(config, progress=progress, log=console.print)
    write_outputs(trained, config, result, out, command)
    console.print(f"wrote {out} and its model card {out.with_suffix('.md')}")


@train_app.command("gan")
def train_gan_command(
    out: Path = typer.Option(Path("runs/gan"), "--out", "-o", help="Folder for weights, samples, curves and metrics."),
    data: str = typer.Option("fashion", help="fashion (Debian Fashion-MNIST), ring8 or grid25 (2-D mixtures)."),
    model: Optional[str] = typer.Option(None, help="GAN config (default: sngan_28_small, or mlp_2d for mixtures; "
                                                    "mlp_2d_pacgan: PacGAN's 2-D networks)."),
    loss: str = typer.Option("hinge", help="hinge, ns (non-saturating), kdd, or hinge+kdd (KDD as a regulariser)."),
    optim: str = typer.Option("adam", help="adam (beta 0, 0.9, two timescales) or kafisto (its defaults)."),
    kafisto_lr: float = typer.Option(1.0, min=1e-9, max=1.0,
                                     help="KaFiStO's lr for both players, with --optim kafisto: the share of the "
                                          "loss each step aims to remove (1: its default; 0.01 trained the 2-D grid)."),
    steps: int = typer.Option(2000, min=1, help="Generator steps."),
    batch_size: int = typer.Option(64, min=2),
    n_dis: int = typer.Option(1, min=1, help="Discriminator steps per generator step."),
    lr_g: float = typer.Option(1e-4, min=0.0),
    lr_d: float = typer.Option(4e-4, min=0.0),
    beta1: float = typer.Option(0.0, min=0.0, max=0.999, help="Adam's beta1 for both players."),
    beta2: float = typer.Option(0.9, min=0.0, max=0.9999, help="Adam's beta2 for both players."),
    sigma: float = typer.Option(0.5, min=1e-6, help="KDD kernel bandwidth on the unit sphere."),
    kdd_weight: float = typer.Option(1.0, min=0.0, help="Weight of KDD when it regularises the hinge loss."),
    seed: int = typer.Option(0),
    ema_decay: float = typer.Option(0.0, min=0.0, max=0.999999,
                                    help="Save BigGAN's moving average of the generator with this decay "
                                         "(BigGAN: 0.9999; 0: the last iterate)."),
    ema_start: int = typer.Option(0, min=0, help="Generator steps before the average starts."),
    evaluate: bool = typer.Option(True, help="FID/KID (fashion) or mode coverage (mixtures) after training."),
) -> None:
    """Train a GAN with the hinge, non-saturating or KDD loss; writes weights, samples, curves, metrics."""
    from reelkit.gan.train import GANTrainConfig, evaluate_generator, train_gan, write_gan_outputs

    if optim not in ("adam", "kafisto"):
        raise ReelkitError(f"unknown optimiser {optim!r}; choose adam or kafisto")
    model = model or ("mlp_2d" if data in ("ring8", "grid25") else "sngan_28_small")
    config = GANTrainConfig(data=data, model=model, loss=loss, optim=optim, steps=steps, batch_size=batch_size,
                            n_dis=n_dis, lr_g=lr_g, lr_d=lr_d, betas=(beta1, beta2), kafisto_lr=kafisto_lr, sigma=sigma,
                            kdd_weight=kdd_weight, seed=seed, ema_decay=ema_decay, ema_start=ema_start)
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
        with console.status("evaluating: " + ("modes covered" if data != "fashion" else "FID and KID of 10,000 samples")):
            metrics = evaluate_generator(generator, config)
    write_gan_outputs(generator, discriminator, config, result, metrics, out, command)
    console.print(f"{', '.join(f'{k} {v:.4g}' for k, v in metrics.items())}; wrote {out}/")


@train_app.command("fashion-classifier")
def train_fashion_classifier_command(
    out: Path = typer.Option(Path("src/reelkit/weights/fashion_cnn.safetensors"), help="Weights file to write."),
    epochs: int = typer.Option(4, min=1),
    batch_size: int = typer.Option(128, min=1),
    seed: int = typer.Option(0),
    optim: str = typer.Option("adamw", help="adamw (one-cycle schedule), adam, sgd, adadelta or kafisto (its defaults)."),
) -> None:
    """Train the Fashion-MNIST CNN whose features define reelkit's FID and KID; writes weights and card."""
    from reelkit.gan.train import ClassifierTrainConfig, train_fashion_classifier, write_classifier_card
    from reelkit.optim import OPTIMIZERS

    if optim not in OPTIMIZERS:
        raise ReelkitError(f"unknown optimiser {optim!r}; choose one of {', '.join(OPTIMIZERS)}")
    writable_dir(out.parent)
    config = ClassifierTrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, optim=optim)
    command = "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with progress_bar() as progress:
        model, metrics = train_fashion_classifier(config, progress=progress, log=console.print)
    write_classifier_card(model, config, metrics, out, command)
    console.print(f"test accuracy {metrics['test_accuracy']:.4f}; wrote {out} and {out.with_suffix('.md')}")


@app.command()
def analyze(
    video: Path = typer.Argument(..., help="Video to analyse."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for report.html, report.json and their images."),
    headline: Optional[str] = typer.Option(None, "--headline", help="The video's headline, to score and improve."),
    top: int = typer.Option(5, "-k", "--top", min=1, max=50, help="Thumbnails to pick."),
    popularity_weights: Optional[Path] = typer.Option(None, help="Popularity weights from `reelkit train popularity`."),
    words: Optional[Path] = typer.Option(None, help="A text file of words to add to the overlay reader's word list: "
                                                   "your names, brands and slang."),
) -> None:
    """Everything at once: overlays, faces, thumbnails, popularity with heat maps, headline ideas."""
    from reelkit.analyze import AnalyzeConfig, VideoAnalyzer
    from reelkit.text.lexicon import read_word_list
    from reelkit.video import probe

    extra_words = read_word_list(words) if words is not None else []
    probe(video)  # a bad video fails in one line before models load or the folder is made
    created = not out.exists()
    out = writable_dir(out)
    analyzer = VideoAnalyzer(AnalyzeConfig(thumbnails=top, words=tuple(extra_words),
                                           popularity_weights=str(popularity_weights) if popularity_weights else None))
    # Everything is written to a staging folder and moved in only when the whole report is done.
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".analyze-"))
    try:
        with progress_bar() as progress:
            task = progress.add_task(f"{video.name}: loading models", total=100)

            def advance(stage: str, share: float) -> None:
                progress.update(task, description=f"{video.name}: {stage}", completed=round(100 * share))

            report = analyzer(video, staging, headline, progress=advance)
        for path in staging.iterdir():
            path.replace(out / path.name)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    console.print(f"popularity {report['popularity']['score']:.0%}, "
                  f"{counted(len(report['overlays']), 'overlay line')}, {counted(len(report['faces']), 'face')}, "
                  f"{counted(len(report['thumbnails']), 'thumbnail')}; "
                  f"wrote {out / 'report.html'} and {out / 'report.json'}")


@app.command()
def popularity(
    video: Path = typer.Argument(..., help="Video to judge."),
    headline: Optional[str] = typer.Option(None, "--headline", help="Its headline (title)."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for <stem>_popularity.json and the explanation images."),
    model: str = typer.Option("popularity_small", help="Popularity config from the registry."),
    weights: Optional[Path] = typer.Option(None, help="Weights from `reelkit train popularity` (default: the shipped demo model)."),
) -> None:
    """Predict popularity; explain it with soft attention over time and Grad-CAM heat maps over the frames."""
    import json

    from reelkit.popularity import PopularityPredictor, write_explanations
    from reelkit.text.formats import atomic_write

    predictor = PopularityPredictor.from_name(model, weights)
    with console.status(f"judging {video.name}"):
        report = predictor(video, headline)
    out = writable_dir(out)  # only once there is something to write: a bad video leaves no folder behind
    paths = write_explanations(report, out, video.stem)
    result = {"video": str(video), "headline": headline, **report.to_json(),
              "images": {k: p.name for k, p in paths.items()}}
    atomic_write(out / f"{video.stem}_popularity.json", json.dumps(result, indent=2) + "\n")
    typer.echo(json.dumps({"video": str(video), "score": result["score"],
                           "most_attended_time": result["most_attended_time"]}))


@train_app.command("popularity")
def train_popularity_command(
    archive: Path = typer.Option(..., help="Archive CSV: video,headline,views,published[,collected] (see docs)."),
    out: Path = typer.Option(Path("runs/popularity/popularity_small.safetensors"), help="Weights file to write."),
    model: str = typer.Option("popularity_small", help="popularity_small, popularity_tiny or popularity_resnet."),
    epochs: int = typer.Option(20, min=1),
    batch_size: int = typer.Option(8, min=1),
    lr: Optional[float] = typer.Option(1e-3, min=0.0, help="Peak learning rate (one-cycle); none for KaFiStO's own."),
    optim: str = typer.Option("adamw", help="adam, adamw, sgd or kafisto."),
    seed: int = typer.Option(0),
    heldout: Optional[Path] = typer.Option(None, help="A demo archive never trained on (its truth.json beside it): "
                                                      "report AUC and Grad-CAM pointing game on it."),
) -> None:
    """Train the popularity network on your archive (or a demo one); writes weights, card and training curve."""
    from reelkit.optim import OPTIMIZERS
    from reelkit.popularity.archive import read_archive
    from reelkit.popularity.train import PopularityTrainConfig, train_popularity, write_popularity_outputs

    from reelkit.popularity.models import CONFIGS

    if optim not in OPTIMIZERS:
        raise ReelkitError(f"unknown optimiser {optim!r}; choose one of {', '.join(OPTIMIZERS)}")
    if model not in CONFIGS:
        raise ReelkitError(f"unknown popularity config {model!r}; choose one of {', '.join(CONFIGS)}")
    read_archive(archive)  # a malformed archive fails before anything is created
    if heldout is not None:
        read_archive(heldout)
    writable_dir(out.parent)
    config = PopularityTrainConfig(archive=str(archive), model=model, epochs=epochs, batch_size=batch_size,
                                   lr=None if optim == "kafisto" else lr, optim=optim, seed=seed)
    command = "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with progress_bar() as progress:
        trained, result = train_popularity(config, progress=progress, log=console.print)
        extra = {}
        if heldout is not None:
            from reelkit.popularity import PopularityPredictor
            from reelkit.popularity.evaluate import evaluate_popularity

            task = progress.add_task("held-out AUC and pointing game", total=None)
            extra = {f"heldout_{k}": v for k, v in evaluate_popularity(
                PopularityPredictor(trained), heldout, progress=lambda: progress.advance(task)).items()}
    written = write_popularity_outputs(trained, config, result, out, command, extra)
    console.print(f"validation AUC {result.validation_auc:.3f}"
                  + "".join(f", {k} {v:.4g}" for k, v in extra.items()) + f"; wrote {', '.join(map(str, written))}")


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
    with progress_bar() as progress:  # write_clip renames the finished file into place
        task = progress.add_task(f"rendering {out.name}", total=int(round(duration * fps)))
        write_clip(spec, out, on_frame=lambda: progress.advance(task))
    truth = out.with_suffix(".truth.json")
    atomic_write(truth, json.dumps(generator.ground_truth(spec), indent=2) + "\n")
    console.print(f"wrote {out} and {truth}")


@synth_app.command("archive")
def synth_archive(
    out: Path = typer.Argument(..., help="Folder for videos/, archive.csv and truth.json."),
    videos: int = typer.Option(960, min=8, help="Number of clips."),
    seed: int = typer.Option(0),
    split: Split = typer.Option(Split.train, help="Background photos of training (train) or never seen in training (heldout)."),
) -> None:
    """Make a demo archive whose popularity has planted causes (a star sticker, a hook headline)."""
    from reelkit.popularity.demo import make_demo_archive

    writable_dir(out)
    with progress_bar() as progress:
        task = progress.add_task(f"rendering {videos} clips", total=videos)
        csv_path = make_demo_archive(out, videos, seed, split.value, on_video=lambda: progress.advance(task))
    console.print(f"wrote {csv_path} and {out / 'truth.json'}")


def _register_capabilities() -> None:
    from reelkit.archive.cli import archive_app
    from reelkit.faces.cli import faces_command, train_emotionaldan_command
    from reelkit.headlines.cli import headlines_app, train_headlines_command
    from reelkit.segment.cli import segment_command, synth_scenes_command, train_layered_command, train_move_command
    from reelkit.studio.cli import studio_command
    from reelkit.thumbnails.cli import thumbnails_command

    app.add_typer(headlines_app, name="headlines")
    train_app.command("headlines")(train_headlines_command)
    app.command("thumbnails")(thumbnails_command)
    app.command("studio")(studio_command)
    app.add_typer(archive_app, name="archive")
    app.command("faces")(faces_command)
    train_app.command("emotionaldan")(train_emotionaldan_command)
    app.command("segment")(segment_command)
    train_app.command("layered")(train_layered_command)
    train_app.command("move")(train_move_command)
    from reelkit.segment.move.dino import train_dino_command
    train_app.command("dino")(train_dino_command)
    synth_app.command("scenes")(synth_scenes_command)
    from reelkit.segment.move.mae import train_mae_command
    train_app.command("mae")(train_mae_command)


_register_capabilities()


def _remove_empty_made_dirs() -> None:
    """The folders this command made and left without a file in them: a failed command leaves nothing behind, and
    a folder holding any file (earlier results) is kept."""
    for made in _made_dirs:
        if made.is_dir() and not any(p.is_file() for p in made.rglob("*")):
            shutil.rmtree(made, ignore_errors=True)


def main() -> None:
    """Entry point: a ReelkitError, or a usage error (a missing argument, an option out of range), becomes
    one line on stderr and exit code 2."""
    try:
        code = app(standalone_mode=False)
    except ReelkitError as error:
        _remove_empty_made_dirs()
        print_error(error)
        sys.exit(2)
    except typer.Abort:
        console.print("[red]aborted[/]")
        sys.exit(1)
    except TyperException as error:  # Typer's own click-style usage errors
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError" and context is not None:
            typer.echo(context.get_help())
        else:
            where = f" (see `{context.command_path} --help`)" if context is not None else ""
            print_error(f"{error.format_message()}{where}")
        sys.exit(getattr(error, "exit_code", 2))
    except KeyboardInterrupt:
        _remove_empty_made_dirs()
        console.print("[red]interrupted[/]")
        sys.exit(130)
    if isinstance(code, int) and code:  # a command that reports its own failures (overlays, per video)
        _remove_empty_made_dirs()
    sys.exit(code if isinstance(code, int) else 0)
