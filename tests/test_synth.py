import numpy as np

from reelkit.text.synth import (CHARSET, HELDOUT_FAMILIES, ClipGenerator, LineImageGenerator, TextSampler,
                                _family_of, list_fonts, render_frame)


def test_font_splits_are_disjoint_and_by_family():
    train, heldout = set(list_fonts("train")), set(list_fonts("heldout"))
    assert len(train) > 50 and len(heldout) > 5
    assert not train & heldout
    assert all(_family_of(p).startswith(HELDOUT_FAMILIES) for p in heldout)
    assert not any(_family_of(p).startswith(HELDOUT_FAMILIES) for p in train)


def test_text_splits_differ():
    train, heldout = TextSampler("train"), TextSampler("heldout")
    assert not set(train.lines) & set(heldout.lines)


def test_line_images_carry_their_text():
    generator = LineImageGenerator("train")
    rng = np.random.default_rng(0)
    for _ in range(20):
        sample = generator(rng)
        assert sample.image.ndim == 3 and sample.image.shape[0] >= 8 and sample.image.shape[1] >= 8
        assert sample.text and set(sample.text) <= set(CHARSET)
        assert sample.image.std() > 3  # text is visible, not a flat patch


def test_clip_ground_truth_matches_rendering():
    generator = ClipGenerator("heldout")
    spec = generator.spec(np.random.default_rng(4), 360, 640, 6.0)
    truth = generator.ground_truth(spec)
    assert truth and all(0 <= t["start"] < t["end"] <= 6.0 for t in truth)
    line = truth[0]
    x0, y0, x1, y1 = line["box"]
    assert 0 <= x0 < x1 <= 360 and 0 <= y0 < y1 <= 640
    shown = render_frame(spec, (line["start"] + line["end"]) / 2).astype(int)
    hidden = render_frame(spec, line["end"] + 0.01).astype(int) if line["end"] < 5.9 else None
    inside = shown[y0:y1, x0:x1]
    assert inside.std() > 20
    if hidden is not None:
        assert np.abs(inside - hidden[y0:y1, x0:x1]).mean() > 10


def test_handle_share_sets_how_many_phrases_are_handles():
    def share(sampler):
        rng = np.random.default_rng(0)
        return np.mean([sampler.phrase(rng).startswith("@") for _ in range(3000)])

    assert abs(share(TextSampler("train")) - 0.06) < 0.015
    assert abs(share(TextSampler("train", handle_share=0.2)) - 0.2) < 0.025
