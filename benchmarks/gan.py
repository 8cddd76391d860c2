"""KDD against hinge: mode coverage on 2-D mixtures, FID/KID on Fashion-MNIST, and step time.

    .venv/bin/python benchmarks/gan.py                       # everything (see docs/benchmarks.md)
    .venv/bin/python benchmarks/gan.py --parts mixtures --seeds 0
    .venv/bin/python benchmarks/gan.py --parts mixtures --mixture-protocol pacgan --mixture-steps 10000 \
        --json docs/benchmarks/gan_pacgan.json --images docs/benchmarks/gan_pacgan

(a) 2-D mixtures (ring of 8, grid of 25): modes covered and share of high-quality samples, per loss and
seed. (b) Fashion-MNIST: FID and KID in the features of reelkit's shipped ``fashion_cnn`` between 10,000
generated images and the 10,000 test images, same budget for every loss. (c) Time of one training step
(one discriminator and one generator update), relative to hinge. Runs go to worker processes with one
thread each; results to docs/benchmarks/gan.json, sample images to docs/benchmarks/gan/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from arguments import ArgumentParser

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "benchmarks"
LOSSES = ("hinge", "kdd", "hinge+kdd")


# The networks and optimiser settings of the mixture runs: reelkit's small MLPs, or PacGAN's 2-D protocol (Lin et al.,
# 2018, official code: G 4 x 400 with batch norm, D 3 x 200 maxout; batch 100, Adam lr 1e-4, betas 0.8 / 0.999).
MIXTURE_PROTOCOLS = {
    "mlp": dict(model="mlp_2d", batch_size=256, lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.9)),
    "pacgan": dict(model="mlp_2d_pacgan", batch_size=100, lr_g=1e-4, lr_d=1e-4, betas=(0.8, 0.999)),
}


def mixture_config(data: str, loss: str, seed: int, steps: int, sigma: float, protocol: str = "mlp",
                   batch_size: int | None = None, kdd_weight: float = 1.0, ema_decay: float = 0.0,
                   optim: str = "adam", kafisto_lr: float = 1.0):
    """The protocol's networks and Adam settings; with ``optim="kafisto"`` both players use KaFiStO instead."""
    from reelkit.gan.train import GANTrainConfig

    settings = dict(MIXTURE_PROTOCOLS[protocol])
    if batch_size is not None:
        settings["batch_size"] = batch_size
    return GANTrainConfig(data=data, loss=loss, steps=steps, seed=seed, sigma=sigma, kdd_weight=kdd_weight,
                          ema_decay=ema_decay, optim=optim, kafisto_lr=kafisto_lr, log_every=100, **settings)


def fashion_config(loss: str, seed: int, steps: int, sigma: float = 0.5, kdd_weight: float = 1.0):
    from reelkit.gan.train import GANTrainConfig

    return GANTrainConfig(data="fashion", model="sngan_28_small", loss=loss, steps=steps, batch_size=64, seed=seed,
                          sigma=sigma, kdd_weight=kdd_weight, log_every=50)


def train_one(config_dict: dict) -> dict:
    """Train one GAN in a worker process; returns its generator's weights (and, with a moving average, the
    last iterate's) and the training record."""
    import torch

    torch.set_num_threads(1)
    from reelkit.gan.train import GANTrainConfig, train_gan

    config = GANTrainConfig(**config_dict)
    generator, _, result = train_gan(config, log=lambda _: None)
    last = result.last_generator.state_dict() if result.last_generator is not None else None
    return {"config": config_dict, "generator": generator.state_dict(), "last_generator": last,
            "seconds": result.seconds, "history": result.history}


def evaluate_one(trained: dict, image_dir: Path) -> dict:
    """Metrics and sample image of a trained generator (in the main process, once every run is done)."""
    from reelkit.gan.data import MIXTURES
    from reelkit.gan.models import create_gan
    from reelkit.gan.train import GANTrainConfig, evaluate_generator, generate, save_image_grid, save_scatter

    config = GANTrainConfig(**trained["config"])
    generator = create_gan(config.model)[0]
    generator.load_state_dict(trained["generator"])
    generator.eval()
    metrics = evaluate_generator(generator, config)
    last_metrics = None
    if trained.get("last_generator") is not None:  # the same run without the moving average
        last = create_gan(config.model)[0]
        last.load_state_dict(trained["last_generator"])
        last_metrics = evaluate_generator(last.eval(), config)
    image = image_dir / f"{config.data}_{config.loss.replace('+', '_')}_seed{config.seed}.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    if config.data in MIXTURES:
        save_scatter(generate(generator, 2500, seed=1), MIXTURES[config.data]().sample(2500), image,
                     f"{config.loss}, seed {config.seed}: {metrics['modes_covered']}/{metrics['modes']} modes, "
                     f"{metrics['high_quality']:.1%} high quality")
    else:
        save_image_grid(generate(generator, 64, seed=1), image)
    return {"config": trained["config"], "metrics": metrics, "last_generator_metrics": last_metrics,
            "seconds": trained["seconds"],
            "history": trained["history"], "image": str(image.relative_to(ROOT) if image.is_relative_to(ROOT) else image)}


def step_times(repeats: int, steps: int) -> dict[str, float]:
    """Seconds per training step (after warm-up) of the Fashion-MNIST config, one thread, same process."""
    import torch

    torch.set_num_threads(1)
    from reelkit.gan.train import train_gan

    times: dict[str, list[float]] = {loss: [] for loss in LOSSES}
    for _ in range(repeats):
        for loss in LOSSES:  # interleaved so that machine noise hits every loss alike
            times[loss].append(train_gan(fashion_config(loss, 0, steps), log=lambda _: None)[2].seconds_per_step)
    return {loss: statistics.median(values) for loss, values in times.items()}


def summarise(runs: list[dict], key: str) -> dict[str, tuple[float, float]]:
    by_loss: dict[str, list[float]] = {}
    for run in runs:
        by_loss.setdefault(run["config"]["loss"], []).append(run["metrics"][key])
    return {loss: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0) for loss, v in by_loss.items()}


# Settings that must agree for runs of two invocations to share a table.
SHARED_SETTINGS = ("batch_size", "sigma", "kdd_weight", "ema_decay", "optim", "kafisto_lr")


def merge_runs(previous: dict | None, new: list[dict]) -> dict:
    """The new runs, plus the earlier runs of the same budget and settings (batch size, bandwidth, KDD weight,
    generator average, optimiser) that they do not redo (same loss and seed), so that a rerun of some losses or seeds
    completes a table instead of replacing it."""
    from reelkit.gan.train import GANTrainConfig

    defaults = asdict(GANTrainConfig())  # for runs recorded before a setting existed
    steps = new[0]["config"]["steps"]
    settings = {key: new[0]["config"][key] for key in SHARED_SETTINGS}
    redone = {(r["config"]["loss"], r["config"]["seed"]) for r in new}
    kept = [r for r in (previous or {}).get("runs", []) if previous["steps"] == steps
            and all({**defaults, **r["config"]}[key] == value for key, value in settings.items())
            and (r["config"]["loss"], r["config"]["seed"]) not in redone]
    runs = sorted(kept + new, key=lambda r: (r["config"]["seed"], LOSSES.index(r["config"]["loss"])))
    return {"runs": runs, "steps": steps}


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="mixtures,fashion,speed")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--mixture-steps", type=int, default=3000)
    parser.add_argument("--fashion-steps", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=OUT / "gan.json")
    parser.add_argument("--images", type=Path, default=OUT / "gan", help="Folder for the sample images.")
    parser.add_argument("--sigma", type=float, default=0.5, help="KDD bandwidth (the default is reelkit's).")
    parser.add_argument("--kdd-weight", type=float, default=1.0,
                        help="Weight of the KDD terms in hinge+kdd (the default is reelkit's).")
    parser.add_argument("--ema-decay", type=float, default=0.0,
                        help="Mixture runs: evaluate BigGAN's moving average of the generator with this decay, "
                             "and the last iterate beside it (default 0: no average).")
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--mixtures", default="ring8,grid25")
    parser.add_argument("--mixture-protocol", choices=sorted(MIXTURE_PROTOCOLS), default="mlp",
                        help="Networks and optimiser of the mixture runs (pacgan: PacGAN's 2-D experiments).")
    parser.add_argument("--mixture-batch", type=int,
                        help="Batch size of the mixture runs (default: the protocol's, 256 for mlp, 100 for pacgan).")
    parser.add_argument("--mixture-optim", choices=("adam", "kafisto"), default="adam",
                        help="Optimiser of both players in the mixture runs (adam: the protocol's settings).")
    parser.add_argument("--kafisto-lr", type=float, default=1.0,
                        help="KaFiStO's lr with --mixture-optim kafisto (1: its default).")
    args = parser.parse_args()
    if args.mixture_batch is not None and args.mixture_batch < 2:
        parser.error("--mixture-batch must be at least 2 (the KDD estimates need two samples of each kind)")
    if args.sigma <= 0 or args.kdd_weight < 0:
        parser.error("--sigma must be positive and --kdd-weight non-negative")
    if not 0.0 <= args.ema_decay < 1.0:
        parser.error("--ema-decay must be in [0, 1)")
    if not 0.0 < args.kafisto_lr <= 1.0:
        parser.error("--kafisto-lr must be in (0, 1]")
    if args.kafisto_lr != 1.0 and args.mixture_optim != "kafisto":
        parser.error("--kafisto-lr goes with --mixture-optim kafisto")
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = args.parts.split(",")
    losses = args.losses.split(",")
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {args.workers} worker processes x 1 thread"

    jobs = []
    if "fashion" in parts:  # the long runs first, so that the short ones fill the gaps at the end
        jobs += [fashion_config(loss, seed, args.fashion_steps, args.sigma, args.kdd_weight)
                 for seed in seeds for loss in losses]
    if "mixtures" in parts:
        jobs += [mixture_config(data, loss, seed, args.mixture_steps, args.sigma, args.mixture_protocol,
                                args.mixture_batch, args.kdd_weight, args.ema_decay, args.mixture_optim,
                                args.kafisto_lr)
                 for data in args.mixtures.split(",") for loss in losses for seed in seeds]
    if jobs:
        start = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            trained = list(pool.map(train_one, [asdict(job) for job in jobs]))
        runs = [evaluate_one(t, args.images) for t in trained]
        for run in runs:
            config = run["config"]
            last = f", last iterate {run['last_generator_metrics']}" if run["last_generator_metrics"] else ""
            print(f"{config['data']:8s} {config['loss']:10s} seed {config['seed']}: {run['metrics']}{last} "
                  f"({run['seconds']:.0f} s)", flush=True)
        for data in ("ring8", "grid25", "fashion"):
            chosen = [r for r in runs if r["config"]["data"] == data]
            if chosen:
                results[data] = merge_runs(results.get(data), chosen)
        results["wall_seconds"] = round(time.perf_counter() - start)
    if "speed" in parts:
        results["step_seconds"] = step_times(repeats=3, steps=30)
        print("step seconds:", results["step_seconds"])

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    if "fashion" in results and {r["config"]["loss"] for r in results["fashion"]["runs"]} == set(LOSSES):
        plot_fashion(results, OUT / "gan_fashion.png")
    print(markdown(results))


def plot_fashion(results: dict, path: Path) -> None:
    """Loss curves (mean over seeds) and one sample grid per loss, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    figure, axes = plt.subplots(1, 1 + len(LOSSES), figsize=(4 * (1 + len(LOSSES)), 3.8))
    for loss in LOSSES:
        runs = [r for r in results["fashion"]["runs"] if r["config"]["loss"] == loss]
        steps = [h["step"] for h in runs[0]["history"]]
        for key, style in (("d_loss", "-"), ("g_loss", "--")):
            mean = [statistics.mean(r["history"][i][key] for r in runs) for i in range(len(steps))]
            axes[0].plot(steps, mean, style, label=f"{loss} {key[0].upper()}")
        fid = statistics.mean(r["metrics"]["fid"] for r in runs)
        axis = axes[1 + LOSSES.index(loss)]
        axis.imshow(Image.open(ROOT / runs[0]["image"]), cmap="gray")
        axis.set_title(f"{loss}: FID {fid:.1f} (mean of {len(runs)} seeds; seed {runs[0]['config']['seed']} shown)",
                       fontsize=8)
        axis.axis("off")
    axes[0].set_xlabel("generator step")
    axes[0].set_ylabel("loss (D solid, G dashed)")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def markdown(results: dict) -> str:
    """The tables for docs/benchmarks.md: mean ± std over seeds, one column per loss that was run."""
    runs = [r for data in ("ring8", "grid25", "fashion") if data in results for r in results[data]["runs"]]
    shown = [l for l in LOSSES if any(r["config"]["loss"] == l for r in runs)]
    lines = ["| data | metric | " + " | ".join(shown) + " |", "|---|---|" + "---|" * len(shown)]

    def row(label: str, metric: str, values: dict, fmt: str) -> None:
        lines.append(f"| {label} | {metric} | " + " | ".join(fmt.format(*values[l]) if l in values else "-"
                                                           for l in shown) + " |")

    for data in ("ring8", "grid25"):
        if data in results:
            total = results[data]["runs"][0]["metrics"]["modes"]
            averaged = results[data]["runs"][0]["config"].get("ema_decay", 0.0)
            label = f"{data} ({results[data]['steps']} steps" + (f", average {averaged})" if averaged else ")")
            row(label, f"modes covered (of {total})",
                summarise(results[data]["runs"], "modes_covered"), "{:.1f} ± {:.1f}")
            row(data, "high-quality share", summarise(results[data]["runs"], "high_quality"), "{:.3f} ± {:.3f}")
            if all(r.get("last_generator_metrics") for r in results[data]["runs"]):  # averaged generators
                last = [{**r, "metrics": r["last_generator_metrics"]} for r in results[data]["runs"]]
                row(data, "modes covered, last iterate", summarise(last, "modes_covered"), "{:.1f} ± {:.1f}")
                row(data, "high-quality share, last iterate", summarise(last, "high_quality"), "{:.3f} ± {:.3f}")
    if "fashion" in results:
        fid = summarise(results["fashion"]["runs"], "fid")
        row(f"Fashion-MNIST ({results['fashion']['steps']} steps)", "FID (lower is better)", fid, "{:.2f} ± {:.2f}")
        if "hinge" in fid:
            row("Fashion-MNIST", "FID change vs hinge",
                {l: ((v[0] / fid["hinge"][0] - 1) * 100,) for l, v in fid.items()}, "{:+.1f}%")
        row("Fashion-MNIST", "KID (lower is better)", summarise(results["fashion"]["runs"], "kid"), "{:.1f} ± {:.1f}")
    if "step_seconds" in results:
        steps = results["step_seconds"]
        row("Fashion-MNIST", "seconds per step (1 thread)",
            {l: (v, v / steps["hinge"]) for l, v in steps.items()}, "{:.3f} ({:.2f}x)")
    return "\n".join(lines)

if __name__ == "__main__":
    main()
