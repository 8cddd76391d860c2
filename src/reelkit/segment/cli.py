"""``reelkit segment``, ``reelkit train layered`` and ``reelkit synth scenes``.

Registered by :func:`reelkit.cli._register_capabilities`::

    app.command("segment")(segment_command)
    train_app.command("layered")(train_layered_command)
    synth_app.command("scenes")(synth_scenes_command)
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

METHODS = ("grabcut", "saliency", "layered", "move")
UNTRAINED = ("grabcut", "saliency")  # no weights: they work on a fresh install
DEFAULT_MODELS = {"layered": "layered_small", "move": "move_small"}


def start_training_run(out: Path, threads: Optional[int]) -> str:
    """The steps every segment training command takes after its config is validated: ``--out`` must name a
    .safetensors file, its folder must be writable, ``--threads`` is applied. Returns the command line to record."""
    import torch

    from reelkit.cli import writable_dir
    from reelkit.errors import SegmentError

    if out.suffix != ".safetensors":
        raise SegmentError(f"--out must name a .safetensors file, got {out}")
    writable_dir(out.parent)
    if threads:
        torch.set_num_threads(threads)
    return "reelkit " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def report_training_run(metrics: dict[str, float], written: list[Path]) -> None:
    from reelkit.cli import console

    console.print(", ".join(f"{k} {v:.4g}" for k, v in metrics.items()), highlight=False)
    for path in written:
        typer.echo(str(path))


def segment_command(
    images: List[Path] = typer.Argument(..., help="Image files to segment."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for <stem>_mask.png, <stem>_overlay.jpg (and <stem>.json "
                                                     "with boxes for move)."),
    method: str = typer.Option("grabcut", help="Segmenter: grabcut (GrabCut from a border, centre and saliency "
                                               "prior), saliency (spectral residual + Otsu), layered (the perturbed "
                                               "layered GAN) or move (MOVE); the last two need `reelkit train` "
                                               "first."),
    model: Optional[str] = typer.Option(None, help="layered, move: model name from the registry (default: "
                                                   "layered_small / move_small)."),
    weights: Optional[Path] = typer.Option(None, help="layered, move: weights file (default: the model's in "
                                                       "src/reelkit/weights/)."),
    backbone_weights: Optional[Path] = typer.Option(None, help="move: a DINO checkpoint file (e.g. the official "
                                                                "dino_deitsmall8_pretrain.pth for --model move)."),
    threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="Mask threshold on the soft foreground mask (grabcut: "
                                                                 "0.5 parts GrabCut's probable foreground from its "
                                                                 "probable background; saliency: 0.5 is Otsu's level "
                                                                 "of each image)."),
) -> None:
    """Segment the main subject of images: a binary mask PNG and an overlay image per input (move: also boxes)."""
    from reelkit.cli import writable_dir
    from reelkit.errors import SegmentError
    from reelkit.segment.layered.pipeline import LayeredSegmenter, read_image, segment_files

    if method not in METHODS:
        raise SegmentError(f"unknown segmentation method {method!r}; choose one of {', '.join(METHODS)}")
    if method in UNTRAINED and (model or weights or backbone_weights):
        raise SegmentError(f"--model, --weights and --backbone-weights are for --method layered or move; {method} "
                           "has no weights")
    pictures = [read_image(path) for path in images]  # unreadable inputs fail before any folder is made
    if method == "grabcut":
        from reelkit.segment.grabcut import GrabCutSegmenter

        segmenter = GrabCutSegmenter(threshold)
    elif method == "saliency":
        from reelkit.segment.saliency import SaliencySegmenter

        segmenter = SaliencySegmenter(threshold)
    elif method == "move":
        from reelkit.segment.move.pipeline import MoveSegmentation, box_writer

        segmenter = MoveSegmentation.from_name(model or DEFAULT_MODELS[method], weights, backbone_weights, threshold)
    else:
        segmenter = LayeredSegmenter.from_name(model or DEFAULT_MODELS[method], weights, threshold)
    out = writable_dir(out)
    extra = box_writer(out, segmenter) if method == "move" else None
    for path in segment_files(images, out, segmenter, extra, pictures):
        typer.echo(str(path))


def train_move_command(
    out: Path = typer.Option(Path("src/reelkit/weights/move_small.safetensors"), "--out", "-o",
                             help="Weights file to write (head + LayerNorm; model card .md and _curve.png beside it)."),
    model: str = typer.Option("move_small", help="Config: move_small (64 px, reelkit's DINO/MAE, CPU), move (the "
                                                 "paper's: DINO ViT-S/8 + MAE ViT-L/16 at 224 px, give the checkpoint "
                                                 "files), move_micro (tests)."),
    backbone_weights: Optional[Path] = typer.Option(None, help="DINO checkpoint file (default: the config's shipped one)."),
    inpainter_weights: Optional[Path] = typer.Option(None, help="MAE checkpoint file (default: the config's shipped one)."),
    steps: int = typer.Option(1500, min=1, help="Segmenter steps (as many discriminator steps)."),
    batch_size: int = typer.Option(32, min=2),
    lr: float = typer.Option(2e-4, min=0.0),
    lr_d: float = typer.Option(2e-4, min=0.0),
    bin_warmup: int = typer.Option(2500, min=0, help="Steps over which the binarisation weight ramps up."),
    min_area: float = typer.Option(0.05, min=0.0, max=1.0, help="Minimum mask area (fraction of the image)."),
    scenes: int = typer.Option(20000, min=2, help="Training scenes from reelkit.segment.data (split train)."),
    heldout: int = typer.Option(300, min=0, help="Held-out scenes to evaluate on after training (0: skip)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch threads (default: torch's)."),
    max_minutes: Optional[float] = typer.Option(None, min=0.1, help="Stop after this many minutes."),
    device: str = typer.Option("cpu", help="cpu, or cuda for the paper-scale config."),
    copy_real: Optional[bool] = typer.Option(None, "--copy-real/--autoencode-real",
                                             help="Background outside the inpainted tokens: the real image, or the "
                                                  "MAE's reconstruction of it (the paper's default); default: the "
                                                  "model config's."),
    optim: str = typer.Option("adamw", help="adamw (the paper's) or kafisto (its defaults, for both players)."),
    seed: int = typer.Option(0),
) -> None:
    """Train MOVE's mask head on frozen DINO features against a discriminator; writes weights, card and curves."""
    from reelkit.cli import console, progress_bar
    from reelkit.segment.move.train import MoveTrainConfig, evaluate_heldout, train_move, train_monitor, write_move_outputs

    config = MoveTrainConfig(model=model, steps=steps, batch_size=batch_size, lr=lr, lr_d=lr_d, bin_warmup=bin_warmup,
                             min_area=min_area, scenes=scenes, seed=seed, max_minutes=max_minutes,
                             extractor_weights=str(backbone_weights) if backbone_weights else None,
                             inpainter_weights=str(inpainter_weights) if inpainter_weights else None, device=device,
                             copy_real_in_inpainted=copy_real, optim=optim)
    config.validate()  # a bad config fails before any folder is made
    command = start_training_run(out, threads)
    with progress_bar() as progress:
        segmenter, result = train_move(config, progress=progress, log=console.print, monitor=train_monitor(config))
    metrics: dict[str, float] = {}
    if heldout:
        with console.status(f"evaluating on {heldout} held-out scenes"):
            metrics = evaluate_heldout(segmenter, heldout)
    metrics["train_minutes"] = round(result.seconds / 60, 1)
    report_training_run(metrics, write_move_outputs(segmenter, config, result, metrics, out, command))


def train_layered_command(
    out: Path = typer.Option(Path("src/reelkit/weights/layered_small.safetensors"), "--out", "-o",
                             help="Weights file to write (model card .md, _curve.png and _samples.png beside it)."),
    model: str = typer.Option("layered_small", help="Config: layered_small (32 px, CPU), layered_small64, layered (the "
                                                    "paper's 128 px), layered_tiny (tests)."),
    loss: str = typer.Option("hinge", help="hinge, ns, kdd or hinge+kdd (reelkit.gan)."),
    optim: str = typer.Option("adam", help="adam (the paper's beta = 0, 0.99) or any of reelkit.optim (kafisto ...)."),
    kafisto_lr: float = typer.Option(1.0, min=1e-9, max=1.0,
                                     help="KaFiStO's lr for both GAN players, with --optim kafisto: the share of the "
                                          "loss each step aims to remove (1: its default)."),
    steps: int = typer.Option(3000, min=1, help="Generator steps."),
    batch_size: int = typer.Option(32, min=2),
    lr_g: float = typer.Option(2e-4, min=0.0),
    lr_d: float = typer.Option(2e-4, min=0.0),
    encoder_steps: int = typer.Option(1500, min=0, help="Encoder steps against the frozen generator."),
    scenes: int = typer.Option(8000, min=2, help="Training scenes from reelkit.segment.data (split train)."),
    no_shift: bool = typer.Option(False, "--no-shift", help="Ablation: train without the random foreground shift."),
    heldout: int = typer.Option(200, min=0, help="Held-out scenes to evaluate on after training (0: skip)."),
    threads: Optional[int] = typer.Option(None, min=1, help="Torch threads (default: torch's)."),
    max_minutes: Optional[float] = typer.Option(None, min=0.1, help="Stop the GAN stage after this many minutes."),
    checkpoint_every: int = typer.Option(0, min=0, help="Also write the EMA generator every this many GAN steps, to "
                                                        "OUT's stem + _ganSTEP.safetensors (its encoder untrained)."),
    mask_net_steps: int = typer.Option(2000, min=0, help="Steps of the mask network distilled from the generator, the "
                                                         "segmenter once trained (0: segment with the encoder)."),
    mask_net_blur: float = typer.Option(1.0, min=0.0, help="Largest Gaussian blur (sigma, px) of the mask network's "
                                                          "training composites."),
    generator: Optional[Path] = typer.Option(None, help="A trained model's weights file: use its generator (and its "
                                                        "encoder, unless --encoder-steps > 0) instead of the GAN stage."),
    seed: int = typer.Option(0),
) -> None:
    """Train the perturbed layered GAN, its encoder and mask network; writes weights, model card, curves and samples."""
    from dataclasses import asdict

    from reelkit.cli import console, progress_bar
    from reelkit.registry import save_weights
    from reelkit.segment.layered.models import LayeredModel
    from reelkit.segment.layered.train import (LayeredTrainConfig, evaluate_generated, evaluate_heldout, train_layered,
                                               write_layered_outputs)

    config = LayeredTrainConfig(model=model, loss=loss, optim=optim, kafisto_lr=kafisto_lr, steps=steps,
                                batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, encoder_steps=encoder_steps, scenes=scenes,
                                no_shift=no_shift, seed=seed, max_minutes=max_minutes, checkpoint_every=checkpoint_every,
                                mask_net_steps=mask_net_steps, mask_net_blur=mask_net_blur,
                                generator=str(generator) if generator else None)
    config.validate()  # a bad config fails before any folder is made
    command = start_training_run(out, threads)

    def save_checkpoint(step: int, model: LayeredModel) -> None:
        path = out.with_name(f"{out.stem}_gan{step}.safetensors")
        save_weights(model, path, {"model": config.model, "train_config": asdict(config), "gan_steps": step,
                                   "command": command})
        console.print(f"checkpoint: {path}", highlight=False)

    with progress_bar() as progress:
        trained, result = train_layered(config, progress=progress, log=console.print, checkpoint=save_checkpoint)
    metrics: dict[str, float] = {}
    if heldout:
        with console.status(f"evaluating on {heldout} held-out scenes"):
            metrics = evaluate_heldout(trained, heldout)
            if trained.has_mask_net:
                metrics["heldout_encoder_miou"] = evaluate_heldout(trained, heldout, use_encoder=True)["heldout_miou"]
    if encoder_steps or generator:
        metrics.update(evaluate_generated(trained, use_encoder=True))
    metrics["train_minutes"] = round(result.seconds / 60, 1)
    report_training_run(metrics, write_layered_outputs(trained, config, result, metrics, out, command))


def synth_scenes_command(
    out: Path = typer.Option(..., "-o", "--out", help="Folder for scene_NNNNN.png, scene_NNNNN_mask.png, manifest.json."),
    count: int = typer.Option(200, "-n", "--count", min=1, help="Number of scenes."),
    size: int = typer.Option(64, min=16, help="Side of the square scenes in pixels."),
    split: str = typer.Option("heldout", help="train or heldout (backgrounds and objects training never sees)."),
    seed: int = typer.Option(0),
) -> None:
    """Write photo scenes with one pasted object and its exact mask (reelkit.segment.data)."""
    from reelkit.cli import console, writable_dir
    from reelkit.errors import SegmentError
    from reelkit.segment.data import SPLITS, write_scenes

    if split not in SPLITS:
        raise SegmentError(f"unknown scene split {split!r}; choose one of {', '.join(SPLITS)}")
    manifest = write_scenes(writable_dir(out), count, size, split, seed)
    console.print(f"wrote {count} {split} scenes to {out}/", highlight=False)
    typer.echo(str(manifest))
