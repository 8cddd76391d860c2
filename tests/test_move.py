"""MOVE (reelkit.segment.move): checkpoint layouts, features, the shift/composite, the mask terms, training and
inference on the micro config with real (randomly initialised) ViT backbones, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from reelkit.errors import WeightsError
from reelkit.segment.data import make_scenes
from reelkit.segment.move.models import (MOVE_CONFIGS, FeatureExtractor, MoveComposer, MoveSegmenter,
                                         ProjectedDiscriminator, binarisation_loss, min_area_loss, trainable_parts)
from reelkit.segment.move.pipeline import MoveSegmentation, box_iou, mask_boxes
from reelkit.segment.move.train import MoveTrainConfig, mask_terms, random_resized_crop, train_move
from reelkit.segment.move.vit import create_mae, create_vit, load_backbone_weights, read_state_dict
from tests.conftest import run_cli

torch.set_num_threads(1)
MICRO = MOVE_CONFIGS["move_micro"]

# Key names and shapes of the official checkpoints (dino_deitsmall8_pretrain.pth, mae_visualize_vit_base.pth).
DINO_S8_SHAPES = {"cls_token": (1, 1, 384), "pos_embed": (1, 785, 384), "patch_embed.proj.weight": (384, 3, 8, 8),
                  "blocks.0.attn.qkv.weight": (1152, 384), "blocks.11.mlp.fc1.weight": (1536, 384),
                  "blocks.11.mlp.fc2.bias": (384,), "norm.weight": (384,)}
DINO_S16_SHAPES = {"pos_embed": (1, 197, 384), "patch_embed.proj.weight": (384, 3, 16, 16)}
MAE_B16_SHAPES = {"pos_embed": (1, 197, 768), "patch_embed.proj.weight": (768, 3, 16, 16),
                  "blocks.11.attn.proj.weight": (768, 768), "mask_token": (1, 1, 512), "decoder_embed.weight": (512, 768),
                  "decoder_pos_embed": (1, 197, 512), "decoder_blocks.7.mlp.fc1.weight": (2048, 512),
                  "decoder_norm.weight": (512,), "decoder_pred.weight": (768, 512)}


@pytest.fixture(autouse=True)
def scene_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> dict[str, str]:
    """Micro DINO and MAE checkpoints in the official containers (DINO full checkpoint, MAE {"model": ...})."""
    folder = tmp_path_factory.mktemp("backbones")
    torch.manual_seed(0)
    vit, mae = create_vit("vit_micro_patch8_32"), create_mae("vit_micro_patch8_32")
    dino_state = {f"module.backbone.{k}": v for k, v in vit.state_dict().items()}
    dino_state["module.head.last_layer.weight_g"] = torch.ones(16, 1)
    torch.save({"student": dino_state, "teacher": {f"backbone.{k}": v for k, v in vit.state_dict().items()}, "epoch": 3},
               folder / "dino.pth")
    torch.save({"model": mae.state_dict()}, folder / "mae.pth")
    return {"dino": str(folder / "dino.pth"), "mae": str(folder / "mae.pth")}


@pytest.mark.parametrize("name, shapes, count", [("vit_small_patch8", DINO_S8_SHAPES, 150),
                                                  ("vit_small_patch16", DINO_S16_SHAPES, 150)])
def test_the_vit_has_dinos_checkpoint_layout(name, shapes, count):
    state = create_vit(name).state_dict()
    assert len(state) == count
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key


def test_the_mae_has_maes_checkpoint_layout():
    state = create_mae("mae_vit_base_patch16").state_dict()
    for key, shape in MAE_B16_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(key.startswith(("encoder.", "decoder.")) for key in state)


def test_official_containers_load_and_extra_heads_are_dropped(backbones, tmp_path):
    vit = load_backbone_weights(create_vit("vit_micro_patch8_32"), backbones["dino"])
    teacher = read_state_dict(backbones["dino"])
    assert "head.last_layer.weight_g" not in teacher  # the teacher, not the student's head
    assert torch.equal(vit.blocks[1].mlp.fc2.weight, teacher["blocks.1.mlp.fc2.weight"])
    mae = load_backbone_weights(create_mae("vit_micro_patch8_32"), backbones["mae"])
    assert torch.equal(mae.decoder_pred.weight, torch.load(backbones["mae"])["model"]["decoder_pred.weight"])
    # The MAE encoder alone into a plain ViT (the decoder is dropped).
    load_backbone_weights(create_vit("vit_micro_patch8_32"), backbones["mae"])


def test_a_checkpoint_for_another_grid_gets_its_position_embedding_interpolated(tmp_path):
    state = create_vit("vit_micro_patch8_32").state_dict()
    state["pos_embed"] = torch.randn(1, 1 + 8 * 8, 32)  # stored for 64 px
    torch.save(state, tmp_path / "big.pth")
    vit = load_backbone_weights(create_vit("vit_micro_patch8_32"), tmp_path / "big.pth")
    assert vit.pos_embed.shape == (1, 17, 32)
    assert torch.equal(vit.pos_embed[0, 0], state["pos_embed"][0, 0])


def test_a_wrong_checkpoint_is_a_clear_error(tmp_path):
    torch.save({"model": create_vit("vit_micro_patch8_32").state_dict()}, tmp_path / "micro.pth")
    with pytest.raises(WeightsError, match="another shape"):
        load_backbone_weights(create_vit("vit_tiny_patch8_64"), tmp_path / "micro.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="unreadable"):
        load_backbone_weights(create_vit("vit_micro_patch8_32"), tmp_path / "junk.pth")


def test_patch_features_have_the_grid_shape_at_any_size():
    extractor = FeatureExtractor(create_vit("vit_micro_patch8_32"), block=-2)
    assert extractor(torch.randn(2, 3, 32, 32)).shape == (2, 32, 4, 4)
    assert extractor(torch.randn(1, 3, 48, 64)).shape == (1, 32, 6, 8)
    assert not any(p.requires_grad for p in extractor.vit.parameters())
    assert all(p.requires_grad for p in extractor.norm.parameters())  # a new LayerNorm for a non-final block


def test_the_head_upsamples_to_pixels_with_the_papers_widths():
    segmenter = MoveSegmenter(FeatureExtractor(create_vit("vit_small_patch8")), MOVE_CONFIGS["move"])
    convs = [m for m in segmenter.head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [192, 128, 128, 128, 1]  # conv_minc128 on 384 channels
    with torch.no_grad():
        mask = MoveSegmenter(FeatureExtractor(create_vit("vit_micro_patch8_32")), MICRO)(torch.randn(2, 3, 32, 32))
    assert mask.shape == (2, 1, 32, 32) and 0 <= mask.min().item() and mask.max().item() <= 1


class FixedMask(torch.nn.Module):
    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.mask = mask

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.mask.expand(images.shape[0], -1, -1, -1)


def test_the_shift_moves_only_the_foreground():
    torch.manual_seed(0)
    composer = MoveComposer(MoveSegmenter(FeatureExtractor(create_vit("vit_micro_patch8_32")), MICRO),
                            create_mae("vit_micro_patch8_32"), MICRO)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:16, 8:16] = 1
    composer.segmenter = FixedMask(mask)
    images = torch.randn(2, 3, 32, 32)
    out = composer(images, offsets=torch.tensor([[3, 5], [0, 0]]))
    # The shifted foreground is the object moved by (dx, dy) = (3, 5); the mask moved with it.
    assert torch.equal(out["mask_shifted"][0, 0, 13:21, 11:19], torch.ones(8, 8))
    assert float(out["mask_shifted"][0].sum()) == 64
    assert torch.allclose(out["composed"][0, :, 13:21, 11:19], images[0, :, 8:16, 8:16])
    # Outside the object's old and new places and their tokens the composite is the untouched real image.
    hidden = torch.zeros(32, 32, dtype=torch.bool)
    hidden[8:24, 8:24] = True  # the 8-px tokens the old and the new object touch
    assert torch.allclose(out["composed"][0][:, ~hidden], images[0][:, ~hidden])
    # Where the object was and is no more, the MAE's inpainting shows, not the object.
    assert not torch.allclose(out["composed"][0, :, 8:13, 8:11], images[0, :, 8:13, 8:11])
    # No shift: the composite is the image except in the inpainted tokens under the (unmoved) object.
    assert torch.allclose(out["composed"][1], out["composed_noshift"][1])
    assert torch.allclose(out["real_shift_copy_paste"][1], images[1])


def test_mask_terms_match_a_hand_computation():
    mask = torch.tensor([[[[0.2, 0.9], [0.5, 0.0]]]])
    assert binarisation_loss(mask).item() == pytest.approx((0.2 + 0.1 + 0.5 + 0.0) / 4)
    assert min_area_loss(mask, 0.5).item() == pytest.approx(0.5 - 0.4)
    assert min_area_loss(mask, 0.3).item() == 0.0
    config = MoveTrainConfig(model="move_micro", bin_warmup=10, bin_weight=12.5, min_area=0.5, min_area_weight=100.0)
    terms = mask_terms(mask, config, patch=2, step=5)
    assert terms["bin"].item() == pytest.approx(12.5 * 0.5 * 0.2)  # half-way through the ramp
    assert terms["min_area_max"].item() == 0.0  # max pooled: one 0.9 pixel covers the whole map
    assert terms["min_area_avg"].item() == pytest.approx(100 * 0.1)


def test_random_resized_crop_keeps_shape_range_and_flips_half():
    ramp = torch.linspace(0, 1, 16).expand(64, 3, 16, 16).contiguous()  # dark left, bright right
    out = random_resized_crop(ramp, 0.9, torch.Generator().manual_seed(0))
    assert out.shape == ramp.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    flipped = (out[..., :4].mean((1, 2, 3)) > out[..., -4:].mean((1, 2, 3))).float().mean()
    assert 0.3 < float(flipped) < 0.7


def test_the_discriminator_gives_one_logit_map_per_head():
    discriminator = ProjectedDiscriminator(create_vit("vit_micro_patch8_32"), MICRO)
    logits = discriminator(torch.randn(3, 3, 32, 32))
    assert len(logits) == 1 + len(MICRO.disc_blocks)
    assert all(logit.shape[0] == 3 for logit in logits)
    frozen = [p for p in discriminator.projections.parameters()] + list(discriminator.vit.parameters())
    assert not any(p.requires_grad for p in frozen)


@pytest.mark.parametrize("optim", ["adamw", "kafisto"])
def test_a_micro_config_trains_with_finite_losses_and_only_the_head_changes(backbones, optim):
    config = MoveTrainConfig(model="move_micro", steps=4, batch_size=4, scenes=16, log_every=2,
                             extractor_weights=backbones["dino"], inpainter_weights=backbones["mae"], optim=optim)
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in load_backbone_weights(create_vit("vit_micro_patch8_32"), backbones["dino"]).state_dict().items()}
    segmenter, result = train_move(config)
    assert result.steps == 4 and len(result.history) == 2
    assert all(np.isfinite(v) for row in result.history for v in row.values())
    after = segmenter.extractor.vit.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the DINO backbone stays frozen


def test_boxes_come_from_connected_regions_largest_first():
    mask = np.zeros((20, 30), bool)
    mask[2:6, 3:8] = True  # 20 px
    mask[10:18, 12:25] = True  # 104 px
    mask[0, 29] = True  # 1 px: below 1% of the image, dropped
    assert mask_boxes(mask) == [[12, 10, 25, 18], [3, 2, 8, 6]]
    assert mask_boxes(np.zeros((5, 5), bool)) == []
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)


def test_train_and_segment_from_the_cli(backbones, tmp_path):
    weights = tmp_path / "move_micro.safetensors"
    result = run_cli("train", "move", "--model", "move_micro", "--backbone-weights", backbones["dino"],
                     "--inpainter-weights", backbones["mae"], "--steps", "2", "--batch-size", "4", "--scenes", "8",
                     "--heldout", "4", "--threads", "1", "-o", str(weights))
    assert result.returncode == 0, result.stderr
    assert weights.is_file() and weights.with_suffix(".md").is_file()
    assert (tmp_path / "move_micro_curve.png").is_file()
    scenes = make_scenes(2, 48, "heldout")
    paths = []
    for i, image in enumerate(scenes.images):
        paths.append(tmp_path / f"scene{i}.png")
        Image.fromarray(image).save(paths[-1])
    out = tmp_path / "out"
    result = run_cli("segment", *map(str, paths), "--method", "move", "--model", "move_micro", "--weights", str(weights),
                     "--backbone-weights", backbones["dino"], "-o", str(out))
    assert result.returncode == 0, result.stderr
    mask = np.asarray(Image.open(out / "scene0_mask.png"))
    assert mask.shape == (48, 48) and set(np.unique(mask)) <= {0, 255}
    record = json.loads((out / "scene1.json").read_text())
    assert record["size"] == [48, 48] and (record["box"] is None or record["box"] == record["boxes"][0])
    # Another DINO file than the head was trained on: refused, one line, exit 2.
    other = tmp_path / "other.pth"
    torch.save(create_vit("vit_micro_patch8_32").state_dict(), other)
    result = run_cli("segment", str(paths[0]), "--method", "move", "--model", "move_micro", "--weights", str(weights),
                     "--backbone-weights", str(other), "-o", str(out))
    assert result.returncode == 2 and "other DINO features" in result.stderr and "Traceback" not in result.stderr


def test_missing_move_weights_are_a_one_line_error(tmp_path):
    result = run_cli("segment", "nothing.png", "--method", "move", "-o", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    result = run_cli("segment", str(image), "--method", "move", "--model", "move_micro", "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "reelkit train move" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_segmentation_masks_keep_each_images_size(backbones, tmp_path):
    config = MoveTrainConfig(model="move_micro", steps=1, batch_size=2, scenes=4,
                             extractor_weights=backbones["dino"], inpainter_weights=backbones["mae"])
    segmenter, _ = train_move(config)
    segmentation = MoveSegmentation(segmenter)
    masks = segmentation.predict([np.zeros((40, 70, 3), np.uint8), np.full((32, 32, 3), 200, np.uint8)])
    assert [m.shape for m in masks] == [(40, 70), (32, 32)]
    assert all(0 <= m.min() and m.max() <= 1 for m in masks)
    assert isinstance(trainable_parts(segmenter), torch.nn.ModuleDict)


def test_move_plugs_into_the_thumbnail_subject_scorer(backbones):
    from reelkit.errors import ThumbnailError
    from reelkit.thumbnails.candidates import Candidate
    from reelkit.thumbnails.scorers import SubjectScorer, subject_segmenter

    config = MoveTrainConfig(model="move_micro", steps=1, batch_size=2, scenes=4,
                             extractor_weights=backbones["dino"], inpainter_weights=backbones["mae"])
    segmenter, _ = train_move(config)
    scorer = SubjectScorer(segmenter=MoveSegmentation(segmenter))
    candidate = Candidate.from_rgb(make_scenes(1, 96, "heldout").images[0])
    assert scorer.mask(candidate).shape == candidate.resized(scorer.analysis_side).shape[:2]
    score = scorer(candidate)
    assert 0.0 <= score.value <= 1.0 and score.reason
    assert subject_segmenter("saliency") is None
    with pytest.raises(ThumbnailError, match="unknown subject segmenter"):
        subject_segmenter("sam")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
@pytest.mark.parametrize("command", ["dino", "mae", "move"])
def test_asking_for_cuda_without_one_is_a_one_line_error(command, tmp_path):
    result = run_cli("train", command, "--device", "cuda", "-o", str(tmp_path / "w.safetensors"))
    assert result.returncode == 2 and "no CUDA device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["dino", "mae", "move"])
def test_an_unknown_device_is_a_one_line_error(command, tmp_path):
    result = run_cli("train", command, "--device", "gpu", "-o", str(tmp_path / "out" / "w.safetensors"))
    assert result.returncode == 2 and "--device gpu: use cpu or cuda" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not any(tmp_path.iterdir())
