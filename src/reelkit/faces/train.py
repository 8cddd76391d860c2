"""``reelkit train emotionaldan``: EmotionalDAN on the labelled faces, with face-api's landmarks as targets.

As in DAN and EmotionalDAN, the stages are trained one after another, each with the earlier ones frozen:
stage 1 on the landmark error alone (EmotionalDAN's ``S1_Cost``), every later stage on the joint cost
``landmark_weight * landmark error + emotion_weight * cross-entropy`` (its ``Joint_Cost``, 0.5 and 0.5).
With ``landmark_weight = 0`` (the papers' ablation "without the landmark term") there is nothing to
train stage 1 on alone, so the whole network learns the emotions end to end for the same number of
epochs. Adam at 0.001 (DAN's), batch 64; DAN's random similarity perturbations of the initial shape
and mirroring; the class imbalance is met by class weights in the cross-entropy.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from reelkit.errors import FaceError
from reelkit.faces.data import (DEFAULT_CACHE, DEFAULT_DIR, box_mean_shape, initial_shape, load_labels, make_crop,
                                mirror, perturb, read_rgb, stratified_split, teacher_landmarks, to_gray,
                                transform_points)
from reelkit.faces.models import CONFIGS, EMOTIONS, EmotionalDAN, canonical_shape, combined_loss, interocular_error
from reelkit.optim import backward_and_step, make_optimizer
from reelkit.registry import create_model


DETECTION_NOTE = """## Face detection and the landmark teacher

reelkit ports the small nets of the npm package `@vladmandic/face-api` (MIT) to PyTorch
(`reelkit.faces.detect`): the tiny face detector (a Tiny-YOLOv2 with separable convolutions, 190 kB)
finds the faces and the 68-point landmark net (350 kB) is the teacher whose landmarks EmotionalDAN
learns. They were chosen over dlib's HOG detector and 68-point shape predictor (Debian `libdlib-data`,
`face_recognition_models`) because they need no compiled extension (pip's dlib builds from source),
are small and fast on a CPU, and their weights come with a pinned npm package that `setup.sh` unpacks
(`.venv/share/face-api/`, or `REELKIT_FACE_API`), read by reelkit's own TensorFlow.js manifest parser.
The port reproduces face-api 1.7.15 run in Node.js (TensorFlow.js CPU backend) on
`skimage.data.astronaut()`: the same box and score, landmarks within 0.0001 px (`tests/test_faces.py`).
The detector learnt faces in context and misses photos cropped tight to the face (most of this data
set), so such photos are framed in a grey border and searched again; a picture no larger than the
detector's input is searched framed first, at a small input size, and kept when the face fills it."""


@dataclass
class EmotionalDANTrainConfig:
    model: str = "emotionaldan_small"
    data: str = str(DEFAULT_DIR)
    cache: str = str(DEFAULT_CACHE)
    stage_epochs: tuple[int, ...] = (6, 12)  # epochs for each stage, trained in turn (DAN sec. 4.1)
    batch_size: int = 64  # DAN
    lr: float | None = 1e-3  # DAN: Adam, 0.001
    optim: str = "adam"
    weight_decay: float = 0.0
    landmark_weight: float = 0.5  # EmotionalDAN Joint_Cost
    emotion_weight: float = 0.5
    class_weighting: str = "sqrt"  # cross-entropy weights: none, sqrt (1/sqrt(frequency)) or balanced (1/frequency)
    translation: float = 0.1  # initial-shape perturbations (DAN uses 0.2, 20 degrees, 0.25 on 300-W)
    rotation: float = 10.0
    scale: float = 0.1
    mirror: bool = True
    seed: int = 0
    threads: int = 2
    max_train: int | None = None  # train on only this many training photos (tests, quick runs)

    def validate(self) -> None:
        if self.model not in CONFIGS:
            raise FaceError(f"unknown EmotionalDAN config {self.model!r}; choose one of {', '.join(CONFIGS)}")
        stages = CONFIGS[self.model].stages
        if len(self.stage_epochs) != stages:
            raise FaceError(f"{self.model} has {stages} stages: give {stages} epoch counts, got {len(self.stage_epochs)}")
        if self.class_weighting not in ("none", "sqrt", "balanced"):
            raise FaceError(f"class weighting must be none, sqrt or balanced, got {self.class_weighting!r}")
        if self.landmark_weight < 0 or self.emotion_weight <= 0:
            raise FaceError("the landmark weight must be >= 0 and the emotion weight > 0")


@dataclass
class EmotionalDANTrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> metric -> value
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    photos: int = 0  # labelled photos in the data set
    class_counts: dict[str, int] = field(default_factory=dict)  # training photos per emotion
    teacher_detected: float = 0.0  # share of photos in which the detector found the face
    split_recipe: str = ""


class CropSampler:
    """Grey photos, teacher boxes and landmarks -> batches of canonical crops, landmark targets in crop
    pixels and labels; with ``augment`` DAN's perturbations, a mirror flip and brightness/contrast jitter."""

    def __init__(self, grays: list[np.ndarray], boxes: np.ndarray, landmarks: np.ndarray, labels: np.ndarray,
                 trusted: np.ndarray, box_shape: np.ndarray, size: int, frame_fraction: float) -> None:
        self.grays, self.boxes, self.landmarks, self.labels, self.trusted = grays, boxes, landmarks, labels, trusted
        self.box_shape = box_shape
        self.canonical = canonical_shape(box_shape, size, frame_fraction)
        self.size = size

    def batch(self, rows: np.ndarray, rng: np.random.Generator | None = None,
              config: EmotionalDANTrainConfig | None = None) -> tuple[torch.Tensor, ...]:
        crops = np.zeros((len(rows), 1, self.size, self.size), np.float32)
        targets = np.zeros((len(rows), 68, 2), np.float32)
        for slot, row in enumerate(rows):
            start = initial_shape(self.boxes[row], self.box_shape)
            if rng is not None:
                start = perturb(start, rng, config.translation, config.rotation, config.scale)
            crop, matrix = make_crop(self.grays[row], start, self.canonical, self.size)
            points = transform_points(self.landmarks[row], matrix)
            crop = crop.astype(np.float32)
            if rng is not None:
                if config.mirror and rng.random() < 0.5:
                    crop, points = mirror(crop, points)
                # EmotionalDAN's augment(): random brightness and contrast
                crop = np.clip((crop - crop.mean()) * rng.uniform(0.7, 1.3) + crop.mean() + rng.uniform(-25, 25), 0, 255)
            crops[slot, 0], targets[slot] = crop, points
        return (torch.from_numpy(crops), torch.from_numpy(targets), torch.from_numpy(self.labels[rows]),
                torch.from_numpy(self.trusted[rows]))


def class_weights(labels: np.ndarray, mode: str, classes: int = len(EMOTIONS)) -> torch.Tensor | None:
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=classes).astype(np.float64).clip(min=1)
    weights = 1 / np.sqrt(counts) if mode == "sqrt" else 1 / counts
    return torch.tensor(weights / (weights * counts).sum() * counts.sum(), dtype=torch.float32)  # mean weight per photo 1


def emotion_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 over all emotions (a class absent from ``labels`` and never predicted counts
    as F1 = 0 only if it is predicted; scikit-learn's ``zero_division=0`` over the classes present in
    either)."""
    from sklearn.metrics import f1_score

    predicted = probabilities.argmax(1)
    present = sorted(set(labels.tolist()) | set(predicted.tolist()))
    return {"accuracy": float((predicted == labels).mean()),
            "macro_f1": float(f1_score(labels, predicted, labels=present, average="macro", zero_division=0))}


@torch.no_grad()
def predict(model: EmotionalDAN, crops: torch.Tensor, batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """(landmarks of the last stage (n, 68, 2), emotion probabilities (n, classes)) for canonical crops."""
    model.eval()
    landmarks, probabilities = [], []
    for start in range(0, len(crops), batch_size):
        output = model(crops[start:start + batch_size])
        landmarks.append(output.landmarks[-1])
        probabilities.append(torch.softmax(output.logits, 1))
    return torch.cat(landmarks), torch.cat(probabilities)


def evaluate(model: EmotionalDAN, split: tuple[torch.Tensor, ...]) -> dict[str, float]:
    crops, targets, labels, trusted = split
    landmarks, probabilities = predict(model, crops)
    errors = interocular_error(landmarks, targets)
    mask = trusted.bool()
    metrics = emotion_metrics(labels.numpy(), probabilities.numpy())
    metrics["landmark_error"] = float(errors[mask].mean()) if mask.any() else float("nan")
    return metrics


def load_faces(config: EmotionalDANTrainConfig, progress=None, log: Callable[[str], None] = print):  # noqa: ANN001
    dataset = load_labels(config.data)
    task = progress.add_task("face-api teacher landmarks (cached)", total=len(dataset)) if progress else None
    teacher = teacher_landmarks(dataset, config.cache,
                                (lambda done, total: progress.update(task, completed=done, total=total)) if progress else None)
    if progress:
        progress.update(task, completed=len(dataset), total=len(dataset))
    split = stratified_split(dataset.labels, config.seed)
    task = progress.add_task("reading photos", total=len(dataset)) if progress else None
    grays = []
    for name in dataset.names:
        grays.append(to_gray(read_rgb(dataset.folder / "images" / name)))
        if progress:
            progress.advance(task)
    log(f"{len(split.train)} training, {len(split.validation)} validation, {len(split.test)} test photos; "
        f"face detected in {teacher.detected.mean():.1%}")
    return dataset, teacher, split, grays


def train_emotionaldan(config: EmotionalDANTrainConfig, progress=None,  # noqa: ANN001 - rich Progress
                       log: Callable[[str], None] = print) -> tuple[EmotionalDAN, EmotionalDANTrainResult]:
    config.validate()
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    dataset, teacher, split, grays = load_faces(config, progress, log)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_rows = split.train
    if config.max_train is not None:
        train_rows = np.sort(rng.permutation(train_rows)[:config.max_train])
    model: EmotionalDAN = create_model(config.model)
    size = model.config.image_size
    box_shape = box_mean_shape(teacher.boxes[train_rows][teacher.detected[train_rows]],
                               teacher.landmarks[train_rows][teacher.detected[train_rows]])
    sampler = CropSampler(grays, teacher.boxes, teacher.landmarks, dataset.labels, teacher.detected.astype(np.float32),
                          box_shape, size, model.config.frame_fraction)
    fixed = {name: sampler.batch(rows) for name, rows in
             (("train", train_rows), ("validation", split.validation), ("test", split.test))}
    train_crops = fixed.pop("train")[0].numpy()
    model.set_statistics(box_shape, train_crops.mean(0), train_crops.std(0))  # DAN's NormalizeImages
    del train_crops
    weights = class_weights(dataset.labels[train_rows], config.class_weighting)
    result = EmotionalDANTrainResult(split_recipe=split.recipe, teacher_detected=float(teacher.detected.mean()),
                                     photos=len(dataset),
                                     counts={"train": len(train_rows), "validation": len(split.validation),
                                             "test": len(split.test)},
                                     class_counts={e: int((dataset.labels[train_rows] == i).sum()) for i, e in enumerate(EMOTIONS)})
    joint = config.landmark_weight == 0  # the ablation: every stage, emotions only, all epochs
    phases = [(list(range(len(model.stages))), sum(config.stage_epochs))] if joint else \
        [([stage], epochs) for stage, epochs in enumerate(config.stage_epochs)]
    steps_per_epoch = max(1, len(train_rows) // config.batch_size)
    epoch_counter = 0
    for stages, epochs in phases:
        last = stages[-1] == len(model.stages) - 1
        params = [p for s in stages for p in model.stage_parameters(s)]
        trainable = {id(p) for p in params}
        for p in model.parameters():
            p.requires_grad_(id(p) in trainable)
        optimizer = make_optimizer(config.optim, params, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch) \
            if config.optim != "kafisto" else None
        best_key, best_state = -np.inf, None
        name = "stages " + "+".join(str(s + 1) for s in stages)
        task = progress.add_task(f"training {name}", total=epochs * steps_per_epoch) if progress else None
        for _ in range(epochs):
            epoch_counter += 1
            model.train()
            for s, stage in enumerate(model.stages):  # frozen stages keep their batch-norm statistics
                if s not in stages:
                    stage.eval()
            totals = np.zeros(3)
            order = rng.permutation(train_rows)
            for step in range(steps_per_epoch):
                crops, targets, labels, trusted = sampler.batch(order[step * config.batch_size:(step + 1) * config.batch_size],
                                                                rng, config)
                stage_index = stages[-1]
                output = model(crops, stages=stage_index + 1)
                if last:
                    loss, landmark_term, emotion_term = combined_loss(
                        output.landmarks[stage_index], targets, output.logits, labels, config.landmark_weight,
                        config.emotion_weight, weights, trusted)
                else:  # EmotionalDAN's S1_Cost: landmarks only
                    loss, landmark_term, emotion_term = combined_loss(
                        output.landmarks[stage_index], targets, output.logits.detach(), labels, 1.0, 0.0, None, trusted)
                backward_and_step(optimizer, loss)
                if scheduler is not None:
                    scheduler.step()
                totals += (loss.item(), landmark_term.item(), emotion_term.item())
                if progress:
                    progress.advance(task)
            validation = evaluate(model, fixed["validation"])
            means = totals / steps_per_epoch
            record = {"epoch": epoch_counter, "stage": stages[-1] + 1, "train_loss": float(means[0]),
                      "train_landmark_error": float(means[1]), "train_cross_entropy": float(means[2]),
                      **{f"validation_{k}": v for k, v in validation.items()}}
            result.history.append(record)
            log(f"epoch {epoch_counter} ({name}): loss {means[0]:.4f}, validation landmark error "
                f"{validation['landmark_error']:.4f}, accuracy {validation['accuracy']:.3f}, macro-F1 {validation['macro_f1']:.3f}")
            # Keep the epoch with the best validation landmark error (stage 1) or macro-F1 (the last stage).
            key = validation["macro_f1"] if last else -validation["landmark_error"]
            if key > best_key:
                best_key, best_state = key, {k: v.clone() for k, v in model.state_dict().items()}
                if last:
                    result.best_epoch = epoch_counter
        model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    result.metrics = {name: evaluate(model, fixed[name]) for name in ("validation", "test")}
    result.seconds = time.perf_counter() - started
    return model, result


def write_emotionaldan_outputs(model: EmotionalDAN, config: EmotionalDANTrainConfig, result: EmotionalDANTrainResult,
                               out: Path, command: str) -> list[Path]:
    """Weights (config and metrics inside), a model card and the training curve beside them."""
    from reelkit.faces.detect import FACE_API_VERSION
    from reelkit.faces.models import parameter_count
    from reelkit.registry import save_weights
    from reelkit.text.formats import atomic_write

    out = Path(out)
    save_weights(model, out, {"model": config.model, "emotions": list(model.config.emotions),
                              "train_config": asdict(config), "metrics": result.metrics, "command": command,
                              "split_recipe": result.split_recipe})
    curve = out.with_name(out.stem + "_curve.png")
    plot_history(result, curve)
    m = result.metrics
    ablation = config.landmark_weight == 0
    card = [
        f"# {out.stem}", "",
        "EmotionalDAN (Tautkute, Trzcinski & Bielski 2018): a Deep Alignment Network (Kowalski et al. 2017) "
        f"with an emotion head, config `{config.model}` ({model.config.stages} stages, widths "
        f"{', '.join(map(str, model.config.widths))}, fc1 {model.config.fc_dim}, {model.config.image_size} px grey crops, "
        f"{parameter_count(model):,} parameters)." + (" **Ablation: trained without the landmark term.**" if ablation else ""),
        "",
        f"- Command: `{command}`",
        f"- Data: `facial_expressions` (muxspace/facial_expressions, Apache-2.0; photos resized to <= 160 px), "
        f"{result.photos} labelled photos, 8 emotions. Split: {result.split_recipe}: "
        f"{result.counts['train']} train, {result.counts['validation']} validation, {result.counts['test']} test. "
        "Training photos per emotion: " + ", ".join(f"{k} {v}" for k, v in result.class_counts.items()) + ".",
        f"- Landmark targets: face-api {FACE_API_VERSION}'s `face_landmark_68_model` on the box of its "
        f"`tiny_face_detector_model` (each photo framed in a grey border; the face was detected in "
        f"{result.teacher_detected:.1%} of photos, the rest use the typical box and are left out of the landmark "
        "term), cached in `runs/faces/landmarks.npz`.",
        f"- Training: stages one after another ({', '.join(map(str, config.stage_epochs))} epochs)"
        + (" - here all stages together on the emotions alone" if ablation else
           f", stage 1 on the landmark error, stage 2 on {config.landmark_weight} x landmark error + "
           f"{config.emotion_weight} x cross-entropy") +
        f"; {config.optim} lr {config.lr}, cosine decay, batch {config.batch_size}, class weights "
        f"`{config.class_weighting}`, perturbations (translation {config.translation}, rotation {config.rotation} deg, "
        f"scale {config.scale}), mirroring {'on' if config.mirror else 'off'}, brightness/contrast jitter; seed {config.seed}; "
        f"the epoch with the best validation macro-F1 is kept ({result.best_epoch}).",
        f"- Wall time: {result.seconds / 60:.1f} min on {platform.machine()}, {config.threads} thread(s), CPU.",
        "",
        "| split | accuracy | macro-F1 | landmark error (inter-ocular, vs teacher) |",
        "|---|---|---|---|",
        *[f"| {name} | {m[name]['accuracy']:.4f} | {m[name]['macro_f1']:.4f} | {m[name]['landmark_error']:.4f} |"
          for name in ("validation", "test")],
        "",
        "Macro-F1 averages the per-emotion F1 over the emotions present in the split or predicted; contempt and "
        "fear have a handful of photos, so their F1 (and the macro average) moves a lot with one photo.",
        f"Training curve: `{curve.name}`.", "",
        DETECTION_NOTE, "",
    ]
    atomic_write(out.with_suffix(".md"), "\n".join(card))
    return [out, out.with_suffix(".md"), curve]


def plot_history(result: EmotionalDANTrainResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in result.history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [h["train_landmark_error"] for h in result.history], label="train")
    left.plot(epochs, [h["validation_landmark_error"] for h in result.history], label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("landmark error (inter-ocular)")
    left.legend()
    right.plot(epochs, [h["validation_accuracy"] for h in result.history], label="validation accuracy")
    right.plot(epochs, [h["validation_macro_f1"] for h in result.history], label="validation macro-F1")
    right.set_xlabel("epoch")
    right.legend()
    figure.tight_layout()
    partial = path.with_name(f".{path.stem}.part.png")
    figure.savefig(partial, dpi=100)
    plt.close(figure)
    partial.replace(path)
