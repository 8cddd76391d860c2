"""Headline scoring and variants: data recipe, features, the shipped model, the improver, training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from reelkit.errors import HeadlineError
from reelkit.headlines import HeadlineImprover, HeadlineScorer, load_trending
from reelkit.headlines.data import channel_relative_targets, grouped_split, load_dataset
from reelkit.headlines.models import FEATURE_NAMES, surface_features
from reelkit.headlines.pipeline import _sentence_case, _title_case, numbers, question

TRENDING = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "youtube_trending" / "USvideos.csv"
needs_data = pytest.mark.skipif(not TRENDING.is_file(),
                                reason=f"trending-videos data not found at {TRENDING} (../shared/data beside the checkout)")

HEADER = "video_id,title,channel_title,category_id,tags,views,likes,dislikes,comment_total,date\n"


@pytest.fixture(scope="module")
def scorer() -> HeadlineScorer:
    return HeadlineScorer()


def test_targets_by_hand(tmp_path: Path) -> None:
    table = tmp_path / "videos.csv"
    table.write_text(HEADER + "".join([
        "a,Alpha,Chan1,1,,99,0,0,0,13.09\n",
        "a,Alpha,Chan1,1,,999,0,0,0,14.09\n",  # the same video a day later: its views are the larger count
        "b,Beta,Chan1,1,,9,0,0,0,13.09\n",
        "c,Gamma,Chan1,1,,99,0,0,0,13.09\n",
        "d,Delta,Solo,1,,5,0,0,0,13.09\n",  # the only video of its channel: dropped
    ]))
    videos = load_trending(table)
    assert {v.video_id: v.views for v in videos} == {"a": 999, "b": 9, "c": 99, "d": 5}
    dataset = channel_relative_targets(videos)
    assert dataset.titles == ["Alpha", "Beta", "Gamma"]
    # log(1 + views) = log 1000, log 10, log 100: each minus the mean of the other two.
    ln10 = math.log(10)
    np.testing.assert_allclose(dataset.target, [3 * ln10 - 1.5 * ln10, ln10 - 2.5 * ln10, 2 * ln10 - 2 * ln10])


@pytest.mark.parametrize("content, message", [
    (None, "not found"),
    ("video_id,title\nx,y\n", "no column"),
    (HEADER + "a,Alpha,Chan1,1,,lots,0,0,0,13.09\n", "line 2"),
    (HEADER, "no videos"),
])
def test_bad_tables(tmp_path: Path, content: str | None, message: str) -> None:
    table = tmp_path / "videos.csv"
    if content is not None:
        table.write_text(content)
    with pytest.raises(HeadlineError, match=message):
        load_trending(table)


@needs_data
def test_grouped_split_keeps_channels_apart() -> None:
    dataset = load_dataset(TRENDING)
    split = grouped_split(dataset, seed=0)
    parts = [set(dataset.channels[i]) for i in (split.train, split.validation, split.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert len(split.train) + len(split.validation) + len(split.test) == len(dataset)
    again = grouped_split(dataset, seed=0)
    np.testing.assert_array_equal(split.test, again.test)


def test_surface_features() -> None:
    features = dict(zip(FEATURE_NAMES, surface_features(["5 WAYS TO WIN?", "hello world | My Channel"]).T))
    np.testing.assert_array_equal(features["words"], [4, 5])
    np.testing.assert_array_equal(features["characters"], [14, 24])
    np.testing.assert_array_equal(features["has_number"], [1, 0])
    np.testing.assert_array_equal(features["question"], [1, 0])
    np.testing.assert_allclose(features["caps_share"], [1, 2 / 19], rtol=1e-6)  # M, C of 19 letters
    np.testing.assert_array_equal(features["segments"], [0, 1])


def test_shipped_model_scores(scorer: HeadlineScorer) -> None:
    headlines = ["I Tried 5 Viral Life Hacks", "cooking pasta", "Taylor Swift - Look What You Made Me Do"]
    scores = scorer(headlines)
    assert len(scores) == 3 and all(math.isfinite(s) for s in scores)
    assert len({round(s, 6) for s in scores}) == 3
    assert scorer.multipliers(headlines) == pytest.approx([math.exp(s) for s in scores])
    with pytest.raises(HeadlineError, match="empty"):
        scorer(["fine", "   "])


def test_improver_ranks_variants_with_reasons(scorer: HeadlineScorer) -> None:
    improver = HeadlineImprover(scorer)
    original = "my cat shows three funny tricks | Cat Channel"
    variants = improver.improve(original, alternatives=["Cat Does a Backflip"], n=4)
    texts = [v.text for v in variants]
    assert "Cat Does a Backflip" in texts
    assert original not in texts and len(set(texts)) == len(texts) >= 4
    assert [v.score for v in variants] == sorted((v.score for v in variants), reverse=True)
    original_score = scorer([original])[0]
    for v in variants:
        assert v.reason and "predicted views vs original" in v.reason
        assert v.change == pytest.approx(math.exp(v.score - original_score) - 1, abs=1e-5)
    assert {"numbers", "question", "length", "wording", "case"} <= {s for _, _, s in improver.candidates(original)}
    with pytest.raises(HeadlineError, match="empty"):
        improver.improve(" ")


@pytest.mark.parametrize(("headline", "with_count"), [
    ("i tried viral hacks", "i tried 5 viral hacks"),
    ("the best kitchen tips | Tasty", "the 5 best kitchen tips | Tasty"),
    ("Things you missed in Thor", "5 Things you missed in Thor"),
])
def test_count_goes_before_the_list_nouns_modifiers(headline: str, with_count: str) -> None:
    assert numbers(headline) == [(with_count, "adds a count")]


def test_rewrites_write_the_pronoun_i_in_capitals() -> None:
    improver = HeadlineImprover(scorer=lambda hs: [0.0] * len(hs))
    texts = [text for text, _, source in improver.candidates("what i learned when i'm on tour") if source != "yours"]
    assert texts and all(" i " not in f" {t} " and "i'm" not in t for t in texts)
    clause = [text for text, _, _ in improver.candidates("i tried viral hacks")]
    assert "Why I tried viral hacks" in clause and not any(t.lower().startswith("the truth about") for t in clause)


def test_templates_add_their_words_in_the_headlines_style() -> None:
    improver = HeadlineImprover(scorer=lambda hs: [0.0] * len(hs))
    lower = [text for text, _, _ in improver.candidates("what they want to do")]
    assert {"The truth about what they want to do", "what they want to do, explained",
            "what they want to do (full video)", "what they want to do: 3 things to know"} <= set(lower)
    assert not any(t.startswith("Why what") for t in lower)  # it already asks
    sentence = [text for text, _, _ in improver.candidates("What they want to do")]
    assert "The truth about what they want to do" in sentence
    titled = [text for text, _, _ in improver.candidates("Cats Versus Cucumbers")]
    assert {"The Truth About Cats Versus Cucumbers", "Cats Versus Cucumbers, Explained",
            "Why Cats Versus Cucumbers?"} <= set(titled)
    assert ("How do you make bread?", "asks a question") in question("how to make bread")
    assert improver.candidates("!!!") == []  # no words, nothing to rewrite
    sentence = [text for text, _, _ in improver.candidates("my cat shows three funny tricks")]  # a verb: a sentence
    assert "Why my cat shows three funny tricks" in sentence and not any(t.startswith("The truth") for t in sentence)


def test_case_changes_keep_names_and_acronyms() -> None:
    assert _title_case("iPhone X review by NASA") == "iPhone X Review by NASA"
    assert _title_case("I tried THE BEST tips") == "I Tried the BEST Tips"
    assert _sentence_case("NASA Shows THE New iPhone X") == "NASA shows the new iPhone X"
    assert _sentence_case("iPhone X Review") == "iPhone X review"


def test_improver_scorer_is_swappable() -> None:
    by_length = HeadlineImprover(scorer=lambda hs: [float(len(h)) for h in hs])
    variants = by_length.improve("THIS IS A SHOUTY TITLE", alternatives=["short"])
    assert variants[-1].text == "short" and variants[-1].source == "yours"
    assert any(v.reason.endswith("removes ALL CAPS") for v in variants)


@needs_data
def test_tiny_training_run(tmp_path: Path) -> None:
    from reelkit.headlines.train import HeadlineTrainConfig, train_headlines, write_headline_card
    from reelkit.registry import create_model, read_metadata

    config = HeadlineTrainConfig(data=str(TRENDING), max_videos=120)
    model, result = train_headlines(config, log=lambda _: None)
    for split in ("validation", "test"):
        for method in ("model", "length_only", "bag_of_words_ridge"):
            assert math.isfinite(result.metrics[split][method]["rho"])
    assert result.n_train == 120 and result.alpha in config.alphas
    out = tmp_path / "headline_minilm.safetensors"
    write_headline_card(model, config, result, out, "reelkit train headlines --max-videos 120")
    assert "--max-videos 120" in out.with_suffix(".md").read_text()
    assert read_metadata(out)["train_config"]["seed"] == 0
    create_model("headline_minilm", weights=out)


def test_cli_errors(tmp_path: Path) -> None:
    from reelkit.headlines.cli import read_headlines

    with pytest.raises(HeadlineError, match="not found"):
        read_headlines([], tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(HeadlineError, match="no headlines"):
        read_headlines([], tmp_path / "empty.txt")
    with pytest.raises(HeadlineError, match="at least one"):
        read_headlines([], None)
    (tmp_path / "two.txt").write_text("first\n\nsecond\n")
    assert read_headlines(["zero"], tmp_path / "two.txt") == ["zero", "first", "second"]


def test_missing_weights_name_the_training_command(tmp_path: Path) -> None:
    from reelkit.errors import WeightsError
    from reelkit.registry import create_model

    with pytest.raises(WeightsError, match="reelkit train headlines"):
        create_model("headline_minilm", weights=tmp_path / "none.safetensors")


def test_score_and_improve_through_the_reelkit_command(tmp_path: Path) -> None:
    import json

    from conftest import run_cli

    titles = tmp_path / "titles.txt"
    titles.write_text("I Tried 5 Viral Hacks\n\nmy cat tries the piano\n")
    result = run_cli("headlines", "score", "Why is bread so hard?", "--file", str(titles))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["headline"] for r in rows] == ["Why is bread so hard?", "I Tried 5 Viral Hacks", "my cat tries the piano"]
    assert all(math.isclose(r["multiplier"], math.exp(r["score"]), rel_tol=1e-3) for r in rows)
    result = run_cli("headlines", "improve", "my cat tries the piano", "--alt", "Piano cat!", "-n", "4", "--json")
    assert result.returncode == 0, result.stderr
    variants = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(v["source"] == "yours" and v["headline"] == "Piano cat!" for v in variants)
    result = run_cli("headlines", "score", "   ")
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0
    result = run_cli("headlines", "improve", "!!!")
    assert result.returncode == 0 and "no rewrites" in result.stdout and "--alt" in result.stdout


def test_failed_training_leaves_no_empty_output_folder(tmp_path: Path) -> None:
    from conftest import run_cli

    out = tmp_path / "new" / "headline.safetensors"
    result = run_cli("train", "headlines", "--data", str(tmp_path / "missing.csv"), "--out", str(out))
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert not out.parent.exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("train", "headlines", "--out", str(blocker / "headline.safetensors"))
    assert result.returncode == 2 and "not a writable folder" in result.stderr


def test_background_load_and_first_call_share_one_model() -> None:
    from reelkit import embeddings

    embeddings._load_model.cache_clear()
    embeddings.load_in_background()
    vectors = embeddings.embed_sentences(["a morning routine", "a morning routine", "tax law"])
    assert embeddings._load_model.cache_info().misses == 1  # the caller waited for the warm-up thread's model
    assert vectors.shape == (3, embeddings.SENTENCE_DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.99 > vectors[0] @ vectors[2]


def test_onnx_embeddings_match_sentence_transformers_modules_run_by_transformers() -> None:
    """The exported encoder and the tokenizers-only front end give the vectors of the model's own modules (BERT
    through transformers, mean pooling, normalisation), for padded batches and lines past the token limit."""
    import torch
    from transformers import BertModel, BertTokenizerFast

    from reelkit import embeddings

    sentences = ["a morning routine", "Tax law EXPLAINED in 10 minutes!!", "", "émoji 🎉 ünïcode", "word " * 400]
    folder = embeddings._model_folder()
    tokenizer, bert = BertTokenizerFast.from_pretrained(folder), BertModel.from_pretrained(folder).eval()
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=embeddings.MAX_TOKENS, return_tensors="pt")
    with torch.no_grad():
        tokens = bert(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((tokens * mask).sum(1) / mask.sum(1), dim=1).numpy()
    np.testing.assert_allclose(embeddings.embed_sentences(sentences, batch_size=2), expected, atol=1e-5)


@pytest.fixture(scope="module")
def planted_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 channels of 4 videos; the word "exclusive" multiplies a video's views by 20 ("yesterday" is as long)."""
    rng = np.random.default_rng(0)
    words = ["cat", "recipe", "vlog", "game", "travel", "prank", "review", "music", "news", "dance"]
    rows = []
    for channel in range(30):
        typical = rng.integers(1_000, 1_000_000)
        for video in range(4):
            planted = video % 2 == 0
            title = " ".join(rng.choice(words, 3)) + (" exclusive" if planted else " yesterday")
            views = int(typical * (20 if planted else 1) * rng.uniform(0.7, 1.3))
            rows.append(f"v{channel}_{video},{title},chan{channel},1,,{views},0,0,0,13.09\n")
    table = tmp_path_factory.mktemp("planted") / "videos.csv"
    table.write_text(HEADER + "".join(rows))
    return table


def test_cross_validation_scores_every_video_once_and_finds_a_planted_word(planted_table: Path) -> None:
    from reelkit.headlines.evaluate import cross_validate_headlines
    from reelkit.headlines.train import HeadlineTrainConfig

    config = HeadlineTrainConfig(data=str(planted_table), cache_dir=str(planted_table.parent / "cache"))
    result = cross_validate_headlines(planted_table, folds=3, config=config)
    assert result["n_videos"] == 120 and len(result["per_fold"]) == 3
    assert sum(fold["n_videos"] for fold in result["per_fold"]) == 120
    assert result["model"]["rho"] > 0.6  # out-of-fold: channels never seen in training
    assert result["bag_of_words_ridge"]["rho"] > 0.6
    assert abs(result["length_only"]["rho"]) < result["model"]["rho"]


def test_fitted_scores_are_calibrated_log_ratios(planted_table: Path) -> None:
    """Within a channel a planted title's target is log(20) * 4/3 = 4.0 above an unplanted one's. A strong
    ridge (forced here) shrinks that gap; the out-of-fold calibration must restore it."""
    from reelkit.headlines.models import cached_embeddings
    from reelkit.headlines.train import HeadlineTrainConfig, fit_headline_model

    dataset = load_dataset(planted_table)
    config = HeadlineTrainConfig(data=str(planted_table), cache_dir=str(planted_table.parent / "cache"), alphas=(100.0,))
    model, alpha, slope = fit_headline_model(dataset, config, cached_embeddings(dataset.titles, planted_table.parent / "cache"))
    assert alpha == 100.0 and slope > 3
    scores = HeadlineScorer(model)(["news game exclusive", "news game yesterday", "dance cat exclusive", "dance cat yesterday"])
    gaps = [scores[0] - scores[1], scores[2] - scores[3]]
    assert all(2.5 < gap < 8.0 for gap in gaps), (gaps, slope)  # uncalibrated: slope times smaller, about 0.45


def test_too_few_channels_are_a_headline_error(tmp_path: Path) -> None:
    from reelkit.headlines.evaluate import cross_validate_headlines

    table = tmp_path / "videos.csv"
    table.write_text(HEADER + "".join(f"v{c}{v},Title {c} {v},chan{c},1,,{100 * (v + 1)},0,0,0,13.09\n"
                                      for c in range(3) for v in range(3)))
    with pytest.raises(HeadlineError, match="only 3 channel"):
        grouped_split(load_dataset(table))
    with pytest.raises(HeadlineError, match="at least 5 channels"):
        cross_validate_headlines(table, folds=5)
