"""``reelkit train crnn``: train the CRNN on synthetic text-line images and evaluate it on held-out
fonts, backgrounds and text (never seen in training)."""

from __future__ import annotations

import json
import multiprocessing
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rapidfuzz.distance import Levenshtein

from reelkit.optim import make_optimizer, uses_momentum
from reelkit.registry import create_model, read_metadata, save_weights
from reelkit.text.models import CONFIGS, CRNN
from reelkit.text.recognize import batch_lines, greedy_decode, line_to_array
from reelkit.text.synth import LineImageGenerator, Split


@dataclass
class CRNNTrainConfig:
    model: str = "crnn_small"
    samples: int = 160_000
    heldout_samples: int = 2_000
    epochs: int = 2
    batch_size: int = 64
    lr: float | None = None  # None: the optimiser's default (1e-3 for Adam, 1.0 for KaFiStO and Adadelta)
    weight_decay: float = 0.0
    optim: str = "adam"
    seed: int = 0
    workers: int = 2
    eval_every: int = 500
    init: str | None = None  # weights file to fine-tune from (None: train from scratch)
    handle_share: float = 0.06  # share of training phrases that are @handles (held-out lines keep 0.06)


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0


# One generator per worker process and handle share: loading photos and fonts is slow.
_GENERATORS: dict[tuple[Split, float], LineImageGenerator] = {}


def _generate(args: tuple[Split, int, int, int, float]) -> list[tuple[np.ndarray, str]]:
    split, seed, count, height, handle_share = args
    if (split, handle_share) not in _GENERATORS:
        _GENERATORS[split, handle_share] = LineImageGenerator(split, handle_share=handle_share)
    generator = _GENERATORS[split, handle_share]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        sample = generator(rng)
        image = line_to_array(sample.image, height)
        out.append((((image + 1.0) * 127.5).round().astype(np.uint8), sample.text))
    return out


def generate_lines(split: Split, count: int, seed: int, workers: int, height: int = 32,
                   progress: Callable[[int], None] | None = None,
                   handle_share: float = 0.06) -> list[tuple[np.ndarray, str]]:
    """``count`` line images (grey, CRNN height) with their texts, made by ``workers`` processes."""
    chunk = 500
    jobs = [(split, seed * 100_003 + i, min(chunk, count - i * chunk), height, handle_share)
            for i in range((count + chunk - 1) // chunk)]
    lines: list[tuple[np.ndarray, str]] = []
    if workers <= 1:
        results = map(_generate, jobs)
    else:
        pool = multiprocessing.get_context("fork").Pool(workers)
        results = pool.imap(_generate, jobs)
    for part in results:
        lines.extend(part)
        if progress:
            progress(len(part))
    if workers > 1:
        pool.close()
    return lines


def _encode(text: str, charset: str) -> list[int]:
    return [charset.index(c) + 1 for c in text]


def _batches(widths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Batches of similar width (less padding), in random order."""
    order = np.argsort(widths + rng.uniform(0, 8, size=len(widths)))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


@torch.inference_mode()
def evaluate(model: CRNN, lines: list[tuple[np.ndarray, str]], batch_size: int = 64) -> dict:
    """Character error rate (case-sensitive and not) and exact-line accuracy."""
    model.eval()
    errors = errors_nocase = chars = exact = 0
    for start in range(0, len(lines), batch_size):
        chunk = lines[start : start + batch_size]
        images, widths = batch_lines([img.astype(np.float32) / 127.5 - 1.0 for img, _ in chunk])
        log_probs = model(images).numpy()
        for column, (_, text) in enumerate(chunk):
            frames = CRNN.output_length(int(widths[column]))
            predicted = greedy_decode(log_probs[:frames, column], model.config.charset).text
            errors += Levenshtein.distance(predicted, text)
            errors_nocase += Levenshtein.distance(predicted.lower(), text.lower())
            chars += len(text)
            exact += predicted == text
    model.train()
    return {"cer": errors / max(chars, 1), "cer_nocase": errors_nocase / max(chars, 1),
            "line_accuracy": exact / max(len(lines), 1)}


def train_crnn(config: CRNNTrainConfig, progress=None, log: Callable[[str], None] = print) -> tuple[CRNN, TrainResult]:
    """Train from scratch, or fine-tune from ``config.init``; ``progress`` is a rich Progress (optional)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()
    model = create_model(config.model, weights=config.init)
    charset = model.config.charset

    task = progress.add_task("synthesising lines", total=config.samples + config.heldout_samples) if progress else None
    advance = (lambda n: progress.advance(task, n)) if progress else None
    train_lines = generate_lines("train", config.samples, config.seed, config.workers, progress=advance,
                                 handle_share=config.handle_share)
    heldout = generate_lines("heldout", config.heldout_samples, config.seed + 7_919, config.workers, progress=advance)
    log(f"synthesised {len(train_lines)} train and {len(heldout)} held-out lines in {time.perf_counter() - started:.0f}s")

    widths = np.array([img.shape[1] for img, _ in train_lines])
    steps_per_epoch = (len(train_lines) + config.batch_size - 1) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    optimizer = make_optimizer(config.optim, model.parameters(), config.lr, config.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=optimizer.param_groups[0]["lr"],
                                                    total_steps=total_steps, pct_start=0.15,
                                                    cycle_momentum=uses_momentum(optimizer))
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True, reduction="none")
    result = TrainResult()
    task = progress.add_task("training", total=total_steps) if progress else None
    step = 0
    if config.init:  # where fine-tuning starts, on the same held-out lines
        result.evaluations.append(evaluate(model, heldout) | {"step": 0, "seconds": round(time.perf_counter() - started)})
        log(json.dumps(result.evaluations[-1]))
    model.train()
    for epoch in range(config.epochs):
        for batch in _batches(widths, config.batch_size, rng):
            images, image_widths = batch_lines([train_lines[i][0].astype(np.float32) / 127.5 - 1.0 for i in batch])
            targets = [_encode(train_lines[i][1], charset) for i in batch]
            input_lengths = torch.tensor([CRNN.output_length(int(w)) for w in image_widths])
            target_lengths = torch.tensor([len(t) for t in targets])
            flat_targets = torch.tensor([c for t in targets for c in t])

            def closure() -> torch.Tensor:
                optimizer.zero_grad(set_to_none=True)
                # per-sample losses over target length: the mean is CTCLoss(reduction="mean")
                losses = ctc(model(images), flat_targets, input_lengths, target_lengths) / target_lengths
                losses.mean().backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                return losses.detach()

            loss = optimizer.step(closure).mean()
            scheduler.step()
            step += 1
            result.losses.append(loss.item())
            if progress:
                progress.update(task, advance=1, description=f"training (epoch {epoch + 1}, loss {result.losses[-1]:.3f})")
            if step % config.eval_every == 0 or step == total_steps:
                metrics = evaluate(model, heldout) | {"step": step, "seconds": round(time.perf_counter() - started)}
                result.evaluations.append(metrics)
                log(json.dumps(metrics))
    result.wall_seconds = time.perf_counter() - started
    model.eval()
    return model, result


def write_outputs(model: CRNN, config: CRNNTrainConfig, result: TrainResult, out: Path, command: str) -> None:
    """Weights (safetensors), model card (Markdown) and training curve (PNG) side by side."""
    final = result.evaluations[-1] if result.evaluations else {}
    earlier = read_metadata(config.init).get("history", []) if config.init else []
    history = [*earlier, {"command": command, "wall_minutes": round(result.wall_seconds / 60, 1), "heldout": final,
                          "samples": config.samples, "steps": len(result.losses)}]
    metadata = {"config": model.config.to_dict(), "train": config.__dict__, "heldout": final, "command": command,
                "history": history}
    save_weights(model, out, metadata)
    _plot_curve(result, out.with_suffix(".png"))
    card = f"""# {config.model}: CRNN text-line recogniser

Trained by reelkit's own command on synthetic text-line images (no external data or weights).

- Command{"s, in order (each fine-tunes the previous one's output)" if len(history) > 1 else ""}: {"; ".join(f"`{h['command']}`" for h in history)}
- Architecture: CRNN (Shi et al., TPAMI 2017), config `{json.dumps(model.config.to_dict(), default=str)[:400]}...`
  ({sum(p.numel() for p in model.parameters()):,} parameters)
- Data recipe: `reelkit.text.synth.LineImageGenerator("train")`: {config.samples:,} lines; phrases from Debian's
  `fortunes` (held-out files excluded), #hashtags, @handles ({config.handle_share:.0%} of phrases), numbers, random strings; {len(__import__('reelkit.text.synth', fromlist=['x']).list_fonts('train'))} training font files;
  overlay styles outline / box / shadow / band / plain over scikit-image and scikit-learn photos and procedural
  backgrounds; blur, noise, rescaling and JPEG; detector-like crop margins.
- Optimiser: {config.optim}, lr {config.lr if config.lr is not None else "(its default)"}, one-cycle schedule, batch {config.batch_size}, {config.epochs} epochs, seed {config.seed}
- Wall time: {" + ".join(f"{h['wall_minutes']:.1f}" for h in history)} min on {platform.machine()} ({torch.get_num_threads()} threads)
- Held-out metrics ({config.heldout_samples:,} lines with held-out fonts, backgrounds and text, greedy decoding):
  CER {final.get('cer', float('nan')):.4f}, case-insensitive CER {final.get('cer_nocase', float('nan')):.4f},
  exact lines {final.get('line_accuracy', float('nan')):.3f}
- Training curve: `{out.with_suffix('.png').name}`
"""
    out.with_suffix(".md").write_text(card)


def _plot_curve(result: TrainResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, left = plt.subplots(figsize=(7, 4))
    losses = np.array(result.losses)
    window = max(1, len(losses) // 100)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    left.plot(smooth, color="tab:blue", label="CTC loss (train)")
    left.set_xlabel("step")
    left.set_ylabel("CTC loss")
    left.set_yscale("log")
    if result.evaluations:
        right = left.twinx()
        right.plot([e["step"] for e in result.evaluations], [e["cer"] for e in result.evaluations],
                   color="tab:red", marker="o", label="held-out CER")
        right.set_ylabel("held-out CER")
        right.set_yscale("log")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
