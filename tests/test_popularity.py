from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import run_cli
from reelkit.errors import PopularityError
from reelkit.popularity import CONFIGS, GradCAM, PopularityNet, PopularityPredictor, read_archive, write_explanations
from reelkit.popularity.archive import popular_labels, sample_frames
from reelkit.popularity.demo import HOOKS, make_demo_archive
from reelkit.popularity.evaluate import pointing_hit
from reelkit.popularity.models import SoftAttention
from reelkit.popularity.train import PopularityTrainConfig, train_popularity, write_popularity_outputs


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory) -> Path:
    return make_demo_archive(tmp_path_factory.mktemp("archive"), videos=16, seed=3)


def test_gradcam_matches_hand_computation():
    # A 1x1 convolution to two channels (A1 = x, A2 = 2x) and y = mean(A1) - mean(A2) = -mean(x):
    # dy/dA1 = 1/16, dy/dA2 = -1/16, so alpha = (1/16, -1/16) and the map is ReLU(-x / 16), peak-normalised.
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
    x = torch.tensor([[1.0, -2.0, 0.5, -4.0], [0.0, 3.0, -1.0, 2.0], [-0.5, 1.0, 1.0, 1.0], [2.0, -3.0, 0.0, 1.0]])
    with GradCAM(conv) as cam:
        maps = cam(lambda: (conv(x.view(1, 1, 4, 4)).mean((2, 3)) @ torch.tensor([1.0, -1.0])).sum())
    expected = torch.relu(-x) / torch.relu(-x).max()
    assert torch.allclose(maps[0], expected, atol=1e-6)
    assert conv._forward_hooks == {}  # the context manager removed its hook


def test_gradcam_joint_scale_keeps_weaker_frames_cooler():
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    frames = torch.stack([torch.ones(1, 3, 3), 0.25 * torch.ones(1, 3, 3)])
    with GradCAM(conv) as cam:
        each = cam(lambda: conv(frames).mean())
    with GradCAM(conv) as cam:
        joint = cam(lambda: conv(frames).mean(), joint=True)
    assert torch.allclose(each, torch.ones_like(each))
    assert torch.allclose(joint[0], torch.ones(3, 3)) and torch.allclose(joint[1], torch.full((3, 3), 0.25))


def test_gradcam_refuses_non_scalar_output():
    conv = nn.Conv2d(1, 1, 1)
    with GradCAM(conv) as cam, pytest.raises(ValueError):
        cam(lambda: conv(torch.ones(1, 1, 2, 2)).flatten())


def test_attention_weights_sum_to_one_and_skip_masked_frames():
    torch.manual_seed(0)
    attention = SoftAttention(6, 4)
    features = torch.randn(3, 5, 6)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False], [False, True, True, True, True]])
    pooled, weights = attention(features, mask)
    assert torch.allclose(weights.sum(1), torch.ones(3))
    assert (weights[~mask] == 0).all()
    assert torch.allclose(pooled[1], (weights[1, :2, None] * features[1, :2]).sum(0))


@pytest.mark.parametrize("name", ["popularity_tiny", "popularity_small"])
def test_network_shapes(name):
    config = CONFIGS[name]
    model = PopularityNet(config).eval()
    frames = torch.rand(2, config.frames, 3, config.image_size, config.image_size)
    output = model(frames, torch.randn(2, 384))
    assert output.logit.shape == (2,)
    assert output.attention.shape == (2, config.frames)
    stride = config.image_size // output.frame_maps.shape[-1]
    assert output.frame_maps.shape[0] == 2 * config.frames and stride == 2 ** (len(config.widths) - 1)


def test_demo_archive_plants_its_causes(small_archive):
    truth = json.loads((small_archive.parent / "truth.json").read_text())
    videos = read_archive(small_archive)
    assert len(videos) == 16
    hook_starts = {template.split("{")[0].strip().lower() for template in HOOKS if not template.startswith("{")}
    for video in videos:
        facts = truth[str(video.path.relative_to(small_archive.parent))]
        assert bool(facts["star_boxes"]) == facts["star"]
        for x0, y0, x1, y1 in facts["star_boxes"].values():
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
        if any(video.headline.lower().startswith(start) for start in hook_starts):
            assert facts["hook"]
    rates = np.array([v.log_views_per_day for v in videos])
    causes = np.array([[truth[str(v.path.relative_to(small_archive.parent))][k] for k in ("star", "hook")] for v in videos])
    # views per day follow the planted effects (1.4 for the star, 1.0 for the hook) up to noise of 0.25
    assert np.corrcoef(rates, causes @ np.array([1.4, 1.0]))[0, 1] > 0.7


def test_sample_frames_spreads_over_the_video(demo_video):
    frames, times = sample_frames(demo_video, 6, size=32)
    assert frames.shape == (6, 32, 32, 3) and frames.dtype == np.uint8
    assert np.all(np.diff(times) > 0)


def test_labels_split_at_the_median(small_archive):
    videos = read_archive(small_archive)
    labels, threshold = popular_labels(videos)
    assert labels.sum() == len(videos) // 2
    assert all((v.log_views_per_day > threshold) == bool(label) for v, label in zip(videos, labels))


def test_tiny_training_and_explanations(small_archive, tmp_path):
    config = PopularityTrainConfig(archive=str(small_archive), model="popularity_tiny", epochs=3, batch_size=8)
    model, result = train_popularity(config, log=lambda _: None)
    assert len(result.history) == 3 and all(np.isfinite(h["train_loss"]) for h in result.history)
    weights = tmp_path / "tiny.safetensors"
    written = write_popularity_outputs(model, config, result, weights, "reelkit train popularity ...")
    assert all(path.is_file() for path in written)
    predictor = PopularityPredictor.from_name("popularity_tiny", weights)
    report = predictor(read_archive(small_archive)[0].path, "5 pasta tricks you won't believe")
    assert 0 < report.score < 1
    assert abs(sum(report.attention) - 1) < 1e-5
    assert report.heatmaps.shape == report.frames.shape[:3]
    assert report.heatmaps.min() >= 0 and report.heatmaps.max() <= 1
    paths = write_explanations(report, tmp_path, "clip")
    assert all(path.stat().st_size > 1000 for path in paths.values())
    score = predictor.frame_score("a headline")(report.frames[0])
    assert 0 < score < 1


def test_tiny_training_with_kafisto(small_archive):
    """KaFiStO is offered by every trainer; it is given the loss it measures (a plain step() would raise)."""
    config = PopularityTrainConfig(archive=str(small_archive), model="popularity_tiny", epochs=1, batch_size=8,
                                   optim="kafisto", lr=None)
    _, result = train_popularity(config, log=lambda _: None)
    assert len(result.history) == 1 and np.isfinite(result.history[0]["train_loss"])


def test_pointing_hit():
    heatmap = np.zeros((20, 20))
    heatmap[5, 12] = 1.0
    assert pointing_hit(heatmap, [10, 3, 14, 8], tolerance=0)
    assert not pointing_hit(heatmap, [0, 0, 5, 5], tolerance=0)
    assert pointing_hit(heatmap, [0, 0, 9, 5], tolerance=4)


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_archive_errors(tmp_path, demo_video):
    with pytest.raises(PopularityError, match="missing column"):
        read_archive(_write_csv(tmp_path / "a.csv", "video,title,views\nx.mp4,hi,3\n"))
    with pytest.raises(PopularityError, match="line 2: video .* does not exist"):
        read_archive(_write_csv(tmp_path / "b.csv", "video,headline,views,published\nnope.mp4,hi,3,2026-01-01\n"))
    with pytest.raises(PopularityError, match="not a number"):
        read_archive(_write_csv(tmp_path / "c.csv", f"video,headline,views,published\n{demo_video},hi,many,2026-01-01\n"))
    with pytest.raises(PopularityError, match="not a date"):
        read_archive(_write_csv(tmp_path / "d.csv", f"video,headline,views,published\n{demo_video},hi,3,yesterday\n"))
    with pytest.raises(PopularityError, match="no videos"):
        read_archive(_write_csv(tmp_path / "e.csv", "video,headline,views,published\n"))


def test_train_cli_rejects_a_bad_archive_in_one_line(tmp_path):
    archive = _write_csv(tmp_path / "bad.csv", "video,headline\nx.mp4,hi\n")
    out = tmp_path / "weights" / "p.safetensors"
    result = run_cli("train", "popularity", "--archive", str(archive), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing column(s) views, published" in result.stderr
    assert not out.parent.exists()


def test_popularity_cli_on_the_bundled_example(demo_video, tmp_path):
    result = run_cli("popularity", str(demo_video), "--headline", "Watch this", "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert 0 <= summary["score"] <= 1
    saved = json.loads((tmp_path / "demo_popularity.json").read_text())
    assert abs(sum(f["attention"] for f in saved["frames"]) - 1) < 1e-3
    assert (tmp_path / "demo_gradcam.jpg").is_file() and (tmp_path / "demo_attention.png").is_file()


def test_popularity_cli_bad_video_leaves_nothing(bad_videos, tmp_path):
    for kind in ("not_a_video", "truncated"):
        out = tmp_path / kind
        result = run_cli("popularity", str(bad_videos[kind]), "-o", str(out))
        assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
        assert not out.exists()
