"""MAE pretraining (reelkit.segment.move.mae) and the MaskedAutoencoder pieces it relies on."""

from __future__ import annotations

import math

import pytest
import torch
from typer.testing import CliRunner

from reelkit.cli import app
from reelkit.segment.move.mae import (MAE_CONFIGS, MAETrainConfig, block_visibility, lr_at, mae_step, param_groups,
                                      random_resized_crop_flip)
from reelkit.segment.move.vit import create_mae

MICRO = "vit_micro_patch8_32"


@pytest.fixture
def micro():
    torch.manual_seed(0)
    return create_mae(MICRO)


def test_random_masking_keeps_a_quarter_and_restore_inverts_shuffle(micro):
    n, tokens, dim = 3, 64, 5
    x = torch.arange(n * tokens * dim, dtype=torch.float32).reshape(n, tokens, dim)
    kept, mask, ids_restore = micro.random_masking(x, 0.75, torch.Generator().manual_seed(1))
    assert kept.shape == (n, 16, dim)
    assert torch.equal(mask.sum(1), torch.full((n,), 48.0))
    ids_shuffle = torch.argsort(ids_restore, dim=1)
    assert torch.equal(kept, torch.gather(x, 1, ids_shuffle[:, :16, None].expand(-1, -1, dim)))
    assert torch.equal(torch.gather(mask, 1, ids_shuffle), torch.cat([torch.zeros(n, 16), torch.ones(n, 48)], 1))
    shuffled = torch.gather(x, 1, ids_shuffle[..., None].expand(-1, -1, dim))
    assert torch.equal(torch.gather(shuffled, 1, ids_restore[..., None].expand(-1, -1, dim)), x)


def test_patchify_round_trip(micro):
    images = torch.randn(2, 3, 32, 48)
    patches = micro.patchify(images)
    assert patches.shape == (2, 4 * 6, 8 * 8 * 3)
    assert torch.equal(micro.unpatchify(patches, (4, 6)), images)
    # The first patch is the top-left 8 x 8 block, channels last (MAE's order).
    assert torch.equal(patches[0, 0], images[0, :, :8, :8].permute(1, 2, 0).reshape(-1))


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_loss_counts_only_masked_patches(micro, norm_pix_loss):
    images = torch.zeros(1, 3, 32, 32)  # 16 patches, all-zero targets (also after per-patch normalisation)
    prediction = torch.zeros(1, 16, 192)
    prediction[0, 0] = 1.0  # masked, squared error 1
    prediction[0, 1] = 5.0  # visible: must not count
    mask = torch.zeros(1, 16)
    mask[0, [0, 2]] = 1.0  # patch 2 masked and predicted exactly
    loss = micro.reconstruction_loss(images, prediction, mask, norm_pix_loss=norm_pix_loss)
    assert loss.item() == pytest.approx(0.5)


def test_decode_soft_fully_visible_equals_decoding_without_mask_tokens(micro):
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        latent = micro.encode_all(images)
        soft = micro.decode_soft(latent, torch.ones(2, 16), (4, 4))
        plain = micro.forward_decoder(latent, torch.arange(16).expand(2, -1), (4, 4))
        hidden = micro.decode_soft(latent, torch.zeros(2, 16), (4, 4))
    torch.testing.assert_close(soft, plain)
    assert not torch.allclose(hidden, plain)


def test_block_visibility_hides_centre_square():
    visible = block_visibility((8, 8), 4).reshape(8, 8)
    assert visible.sum() == 48 and visible[2:6, 2:6].sum() == 0


def test_crop_identity_and_schedule():
    x = torch.randn(4, 3, 16, 16)
    same = random_resized_crop_flip(x, (1.0, 1.0), (1.0, 1.0), torch.Generator().manual_seed(0), flip=False)
    torch.testing.assert_close(same, x, atol=1e-4, rtol=0)
    assert random_resized_crop_flip(x, (0.2, 1.0), (3 / 4, 4 / 3), torch.Generator()).shape == x.shape
    config = MAETrainConfig(epochs=10, warmup_epochs=1, blr=2.56e-3, batch_size=100)
    assert config.lr == pytest.approx(1e-3)
    assert lr_at(0.0, config) == 0 and lr_at(0.1, config) == pytest.approx(1e-3)
    assert lr_at(0.55, config) == pytest.approx(5e-4) and lr_at(1.0, config) == pytest.approx(0.0, abs=1e-12)


def test_no_weight_decay_on_biases_norms_or_frozen(micro):
    no_decay, decay = param_groups(micro, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0
    ids = {id(p) for p in decay["params"]}
    assert id(micro.blocks[0].attn.qkv.weight) in ids and id(micro.blocks[0].attn.qkv.bias) not in ids
    assert id(micro.norm.weight) not in ids and id(micro.pos_embed) not in ids
    assert id(micro.pos_embed) not in {id(p) for p in no_decay["params"]}


def test_loss_falls_on_a_fixed_batch(micro):
    torch.manual_seed(0)
    images = torch.nn.functional.interpolate(torch.randn(8, 3, 4, 4), size=32, mode="bilinear")  # smooth images
    optimizer = torch.optim.AdamW(param_groups(micro, 0.05), lr=2e-3, betas=(0.9, 0.95))

    def fixed_loss() -> float:
        with torch.no_grad():
            return mae_step(micro, images, 0.75, False, torch.Generator().manual_seed(0))[0].item()

    before = fixed_loss()
    for _ in range(30):
        loss = mae_step(micro.train(), images, 0.75, False)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = fixed_loss()
    assert math.isfinite(after) and after < 0.7 * before


@pytest.mark.parametrize("optim", ["adamw", "kafisto"])
def test_cli_trains_micro_config(tmp_path, monkeypatch, optim):
    from reelkit.registry import create_model, read_metadata

    import numpy as np

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cache = tmp_path / "cache" / "reelkit" / "scenes"  # pre-filled scene cache: no photo loading in the test
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savez(cache / "train_32px_seed0_32.npz", images=rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8),
             masks=np.zeros((32, 32, 32), bool))
    out = tmp_path / "weights" / "mae_micro.safetensors"
    result = CliRunner().invoke(app, ["train", "mae", "--config", MICRO, "--out", str(out), "--scenes", "32",
                                      "--batch-size", "16", "--epochs", "1", "--heldout", "2", "--threads", "1",
                                      "--optim", optim])
    assert result.exit_code == 0, result.output
    for suffix in (".safetensors", ".md", "_curve.png", "_samples.png"):
        assert (tmp_path / "weights" / f"mae_micro{suffix}").is_file()
    meta = read_metadata(out)
    assert meta["steps"] == 2 and meta["train_config"]["norm_pix_loss"] is False
    assert "heldout_masked_mse" in meta["metrics"] and "heldout_block_mse" in meta["metrics"]
    card = out.with_suffix(".md").read_text()
    assert "- Command: `reelkit " in card and "heldout masked mse" in card
    assert ("KaFiStO" in card) == (optim == "kafisto") and math.isfinite(meta["metrics"]["heldout_masked_mse"])
    state = create_mae(MICRO).state_dict()
    loaded = create_model("mae_vittiny8")  # the registered tiny builder
    assert "decoder_pred.weight" in loaded.state_dict() and "decoder_pred.weight" in state


def test_cli_rejects_bad_config_before_writing(tmp_path):
    out = tmp_path / "never" / "m.safetensors"
    result = CliRunner().invoke(app, ["train", "mae", "--config", "nope", "--out", str(out)])
    assert result.exit_code != 0 and not out.parent.exists()
    result = CliRunner().invoke(app, ["train", "mae", "--config", MICRO, "--out", str(tmp_path / "never" / "m.pt")])
    assert result.exit_code != 0 and not out.parent.exists()


def test_configs_validate():
    for config in MAE_CONFIGS.values():
        config.validate()
    assert MAE_CONFIGS["vit_base_patch16"].lr == pytest.approx(1.5e-4 * 4096 / 256)
