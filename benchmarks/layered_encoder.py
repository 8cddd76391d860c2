"""The layered GAN's encoder on fixed generators: trained on plain or on perturbed generated scenes.

For each generator (a ``reelkit train layered --encoder-steps 0`` weights file), two fresh encoders are trained
against it with ``train_encoder_stage``, identical but for the generated scenes they learn from:

- ``plain``: the generator's unperturbed composites (reelkit before 2026-12-06);
- ``perturbed``: the composites as the discriminator saw them in the GAN stage (foreground and mask shifted by up
  to the config's offset, background contrast jittered), with the shifted mask as the target (now the default);
- ``mask_net``: not an encoder but the mask network of ``reelkit train layered``'s third stage, a U-Net that learns
  the perturbed composites' masks (``--mask-net-steps``); scored the same way;
- ``supervised``, an upper bound and not unsupervised: the encoder learns the real training scenes' true masks
  through the frozen generator (1 - soft IoU of mask(G(E(x))) and the truth). It shows how well the generator's masks
  can fit real objects at all: if this scores low, no encoder can segment real scenes with that generator.

Each encoder is scored on the generator's own unperturbed scenes (mean IoU against the generator's masks: does it
invert G?) and on real scenes it never trained on: held-out scenes of seed 1 (``--seed``; the segmentation
benchmark's test scenes are seed 0, so choosing between the two does not look at them), at the model's size and
at 64 px as ``benchmarks/segment.py`` scores them. Generators, for example::

    .venv/bin/reelkit train layered --threads 1 --steps 4000 --encoder-steps 0 --scenes 6000 --heldout 0 \\
        --seed S [--loss hinge+kdd] -o runs/segment/gen_S.safetensors
    .venv/bin/python benchmarks/layered_encoder.py runs/segment/gen_0.safetensors runs/segment/gen_1.safetensors

The checkpoints of ``reelkit train layered --checkpoint-every N`` (``OUT_ganSTEP.safetensors``) are generators too:
scoring them shows how the segmenter changes with the length of the GAN stage (``--variants perturbed``).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from reelkit.errors import ReelkitError
from reelkit.optim import backward_and_step
from reelkit.registry import read_metadata
from reelkit.segment.data import make_scenes
from reelkit.segment.layered import CONFIGS, create_layered
from reelkit.segment.layered.train import (LayeredTrainConfig, LayeredTrainResult, evaluate_generated, evaluate_heldout,
                                           load_generator, scenes_to_tensor, soft_iou_loss, train_encoder_stage,
                                           train_mask_net_stage)
from arguments import ArgumentParser

VARIANTS = ("plain", "perturbed", "mask_net", "supervised")


def generator_metadata(path: Path) -> dict:
    """The metadata of a layered GAN's weights file; anything else is a ReelkitError."""
    if not path.is_file():
        raise ReelkitError(f"{path} not found: train it with `reelkit train layered --encoder-steps 0 -o {path}`")
    meta = read_metadata(path)
    if meta.get("model") not in CONFIGS:
        raise ReelkitError(f"{path} is not the weights of a layered GAN ({', '.join(CONFIGS)})")
    return meta


def train_supervised(model: torch.nn.Module, steps: int, real: torch.Tensor, masks: torch.Tensor, seed: int) -> None:
    """The ``supervised`` upper bound: Adam at the encoder stage's learning rate, batch 32, on the true masks."""
    rng = torch.Generator().manual_seed(seed)
    model.generator.eval().requires_grad_(False)
    settings = LayeredTrainConfig()
    optimizer = torch.optim.Adam(model.encoder.parameters(), lr=settings.encoder_lr)
    for _ in range(steps):
        batch = torch.randint(len(real), (settings.batch_size,), generator=rng)
        # the metric itself as the loss: an L1 fit to masks covering a tenth of the image settles on empty masks
        backward_and_step(optimizer, soft_iou_loss(model(real[batch]).mask[:, 0], masks[batch]))
    model.eval()


def train_encoder(path: Path, meta: dict, variant: str, steps: int, real: torch.Tensor, masks: torch.Tensor,
                  mask_net_steps: int) -> torch.nn.Module:
    """A fresh encoder (torch seed 0) against the frozen generator in ``path``, or a fresh mask network; ``real``:
    the training scenes for the real-image reconstruction term, ``masks``: their true masks (only the supervised
    bound sees them)."""
    model = create_layered(meta["model"])[0]
    load_generator(path, model)
    settings = meta.get("train_config", {})
    torch.manual_seed(0)
    model.encoder = type(model.encoder)(model.config)
    if variant == "mask_net":
        config = LayeredTrainConfig(model=meta["model"], mask_net_steps=mask_net_steps, seed=int(settings.get("seed", 0)),
                                    log_every=mask_net_steps, no_shift=bool(settings.get("no_shift")))
        train_mask_net_stage(model, config, LayeredTrainResult(), log=lambda _: None)
        return model
    if variant == "supervised":
        train_supervised(model, steps, real, masks, int(settings.get("seed", 0)) + 1)
        return model
    config = LayeredTrainConfig(model=meta["model"], encoder_steps=steps, scenes=len(real),
                                seed=int(settings.get("seed", 0)), log_every=steps,
                                no_shift=variant == "plain" or bool(settings.get("no_shift")))
    if variant == "plain":  # no shift (above) and no contrast jitter: the generator's own composites
        model.config = dataclasses.replace(model.config, bg_contrast_jitter=0.0)
    train_encoder_stage(model, config, real, LayeredTrainResult(), log=lambda _: None)
    return model


def plot_by_gan_steps(rows: list[dict], path: Path) -> None:
    """Held-out IoU and IoU on G's own scenes against GAN steps, one line per training run (its checkpoints)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["gan_steps"] is not None:
            runs.setdefault((re.sub(r"_gan\d+$", "", Path(row["generator"]).stem), row["variant"]), []).append(row)
    figure, axis = plt.subplots(figsize=(6, 3.6))
    for (run, variant), points in sorted(runs.items()):
        points.sort(key=lambda r: r["gan_steps"])
        steps = [r["gan_steps"] for r in points]
        line, = axis.plot(steps, [r["heldout_miou"] for r in points], marker="o", label=f"{run} ({variant}): held-out")
        axis.plot(steps, [r["generated_miou"] for r in points], marker="x", linestyle="--", color=line.get_color(),
                  label=f"{run} ({variant}): G's own scenes")
    axis.set_xlabel("GAN steps of the generator")
    axis.set_ylabel("mean IoU")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=6)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("generators", type=Path, nargs="+")
    parser.add_argument("--steps", type=int, default=500, help="encoder steps (the documented command's 500)")
    parser.add_argument("--mask-net-steps", type=int, default=2000, help="mask network steps (the command's default)")
    parser.add_argument("--scenes", type=int, default=6000, help="real training scenes for the reconstruction term")
    parser.add_argument("--heldout", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1, help="held-out scene seed (the segmentation benchmark uses 0)")
    parser.add_argument("--variants", default="plain,perturbed", help="comma-separated, of: " + ", ".join(VARIANTS))
    parser.add_argument("--json", type=Path, default=Path("docs/benchmarks/layered_encoder.json"))
    parser.add_argument("--plot", type=Path, help="PNG of IoU against GAN steps for checkpoint files")
    args = parser.parse_args()
    if min(args.steps, args.heldout, args.mask_net_steps) < 1:
        parser.error("--steps, --mask-net-steps and --heldout must be at least 1")
    variants = [v for v in args.variants.split(",") if v]
    if not variants or set(variants) - set(VARIANTS):
        parser.error(f"--variants must name some of {', '.join(VARIANTS)}")
    torch.set_num_threads(1)
    rows = []
    real_scenes: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
    try:
        metas = [generator_metadata(path) for path in args.generators]  # every file checked before any training
        for path, meta in zip(args.generators, metas):
            size, seed = CONFIGS[meta["model"]].image_size, int(meta.get("train_config", {}).get("seed", 0))
            if (size, seed) not in real_scenes:
                scenes = make_scenes(args.scenes, size, "train", seed)
                real_scenes[size, seed] = scenes_to_tensor(scenes.images), torch.from_numpy(scenes.masks).float()
            for variant in variants:
                start = time.perf_counter()
                model = train_encoder(path, meta, variant, args.steps, *real_scenes[size, seed], args.mask_net_steps)
                row = {"generator": str(path), "loss": meta.get("train_config", {}).get("loss"),
                       "gan_steps": meta.get("gan_steps"), "variant": variant,
                       "size": size, **evaluate_generated(model),
                       **{key: value for key, value in evaluate_heldout(model, args.heldout, args.seed).items()
                          if key in ("heldout_miou", "heldout_mask_area", "heldout_truth_area")},
                       "heldout_miou_64px": evaluate_heldout(model, args.heldout, args.seed, 64)["heldout_miou"],
                       "seconds": round(time.perf_counter() - start, 1)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    except ReelkitError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    lines = ["| generator | loss | encoder trained on | IoU on G's own scenes | held-out IoU (model's size) | "
             "held-out IoU (64 px) |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {Path(row['generator']).name} | {row['loss']} | {row['variant']} | {row['generated_miou']:.3f} | "
                     f"{row['heldout_miou']:.3f} ({row['size']} px) | {row['heldout_miou_64px']:.3f} |")
    for variant in variants:
        values = [[r[key] for r in rows if r["variant"] == variant] for key in ("heldout_miou", "heldout_miou_64px")]
        cells = [f"{statistics.mean(v):.3f}" + (f" ± {statistics.stdev(v):.3f}" if len(v) > 1 else "") for v in values]
        lines.append(f"| mean of {len(values[0])} | | {variant} | | {cells[0]} | {cells[1]} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows, "steps": args.steps, "heldout": args.heldout, "seed": args.seed,
                                     "machine": f"{platform.machine()}, 1 torch thread",
                                     "command": "benchmarks/layered_encoder.py " + " ".join(sys.argv[1:])},
                                    indent=2) + "\n")
    if args.plot:
        plot_by_gan_steps(rows, args.plot)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
