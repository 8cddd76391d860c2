"""The 25-mode grid under PacGAN's 2-D protocol with one setting changed: the generator's latent size, the
discriminator steps per generator step, or the optimiser of both players.

    .venv/bin/python benchmarks/gan_probe.py --z-dim 16 --losses hinge+kdd,hinge \
        --json docs/benchmarks/gan_probe_z16.json
    .venv/bin/python benchmarks/gan_probe.py --n-dis 2 --json docs/benchmarks/gan_probe_ndis2.json
    .venv/bin/python benchmarks/gan_probe.py --optim kafisto --losses hinge+kdd,hinge \
        --json docs/benchmarks/gan_probe_kafisto.json

Everything else is `benchmarks/gan.py --parts mixtures --mixture-protocol pacgan --mixtures grid25
--mixture-steps 10000 --ema-decay 0.999`: the same networks, optimiser, data, evaluation and seeds, through that
script's own helpers. Each run is scored twice, the generator's moving average and its last iterate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from arguments import ArgumentParser
import gan as bench  # benchmarks/ is not a package: run as a script, its folder is on sys.path

BASE_MODEL = "mlp_2d_pacgan"


def register_latent_variant(z_dim: int | None) -> str:
    """The protocol's networks with another latent size, registered under its own name (in every process)."""
    from reelkit.gan.models import CONFIGS

    if z_dim is None:
        return BASE_MODEL
    name = f"{BASE_MODEL}_z{z_dim}"
    CONFIGS[name] = dataclasses.replace(CONFIGS[BASE_MODEL], z_dim=z_dim)
    return name


def train_variant(job: tuple[dict, int | None]) -> dict:
    config, z_dim = job
    register_latent_variant(z_dim)
    return bench.train_one(config)


def main() -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--z-dim", type=int, help="Generator latent size (the protocol's is 2).")
    parser.add_argument("--n-dis", type=int, default=1, help="Discriminator steps per generator step.")
    parser.add_argument("--optim", choices=("adam", "kafisto"), default="adam",
                        help="Optimiser of both players (kafisto runs at its own defaults; adam: the protocol's).")
    parser.add_argument("--losses", default="hinge+kdd")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--images", type=Path, help="Folder for the scatter plots (default: beside the JSON).")
    args = parser.parse_args()
    z_dim = 2 if args.z_dim is None else args.z_dim
    if min(z_dim, args.n_dis, args.steps, args.workers) < 1 or not 0.0 <= args.ema_decay < 1.0:
        parser.error("--z-dim, --n-dis, --steps and --workers must be at least 1, --ema-decay in [0, 1)")
    losses = args.losses.split(",")
    if not set(losses) <= set(bench.LOSSES) or not all(s.isdigit() for s in args.seeds.split(",")):
        parser.error(f"--losses takes {', '.join(bench.LOSSES)} and --seeds whole numbers, comma-separated")
    images = args.images or args.json.with_suffix("")
    if args.json.is_dir() or (images.exists() and not images.is_dir()):
        parser.error("--json must name a file and --images a folder (checked before the runs train)")
    model = register_latent_variant(args.z_dim)
    jobs = []
    for loss in losses:
        for seed in (int(s) for s in args.seeds.split(",")):
            config = bench.mixture_config("grid25", loss, seed, args.steps, 0.5, protocol="pacgan",
                                          ema_decay=args.ema_decay, optim=args.optim)
            jobs.append((dataclasses.asdict(dataclasses.replace(config, model=model, n_dis=args.n_dis)), args.z_dim))
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        trained = list(pool.map(train_variant, jobs))
    runs = [bench.evaluate_one(t, images) for t in trained]
    for run in runs:
        last = run["last_generator_metrics"] or {}
        print(f"{run['config']['loss']:10s} seed {run['config']['seed']}: {run['metrics']['modes_covered']} modes "
              f"(last iterate {last.get('modes_covered')}), {run['seconds']:.0f} s", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"z_dim": args.z_dim or 2, "n_dis": args.n_dis, "optim": args.optim,
                                     "steps": args.steps,
                                     "runs": runs, "wall_seconds": round(time.perf_counter() - start)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
