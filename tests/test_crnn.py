import numpy as np
import pytest
import torch

from reelkit.errors import WeightsError
from reelkit.registry import create_model, list_models
from reelkit.text.models import CONFIGS, CRNN
from reelkit.text.recognize import TextRecognizer, beam_decode, greedy_decode
from reelkit.text.synth import LineImageGenerator
from reelkit.text.train import CRNNTrainConfig, train_crnn, write_outputs


@pytest.mark.parametrize("name", list(CONFIGS))
def test_crnn_maps_32_high_images_to_column_sequences(name):
    model = create_model(name).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 32, 100))
    assert out.shape == (CRNN.output_length(100), 2, len(CONFIGS[name].charset) + 1)
    assert torch.allclose(out.exp().sum(-1), torch.ones(out.shape[:2]), atol=1e-4)


def test_paper_config_is_the_paper_size():
    model = create_model("crnn")
    assert CONFIGS["crnn"].channels == (64, 128, 256, 256, 512, 512, 512) and CONFIGS["crnn"].lstm_hidden == 256
    assert 8.0e6 < sum(p.numel() for p in model.parameters()) < 9.0e6  # CRNN's 8.3M, plus a wider charset


@pytest.mark.parametrize("optim, lr", [("adam", 3e-3), ("kafisto", None)])
def test_tiny_crnn_trains_and_its_weights_round_trip(tmp_path, optim, lr):
    config = CRNNTrainConfig(model="crnn_tiny", samples=96, heldout_samples=16, epochs=6, batch_size=16,
                             lr=lr, optim=optim, workers=1, eval_every=1000)
    model, result = train_crnn(config, log=lambda _: None)
    first, last = np.mean(result.losses[:4]), np.mean(result.losses[-4:])
    assert last < 0.7 * first
    out = tmp_path / "crnn_tiny.safetensors"
    write_outputs(model, config, result, out, "reelkit train crnn --model crnn_tiny")
    assert out.with_suffix(".md").read_text().count("Held-out metrics") == 1
    assert out.with_suffix(".png").stat().st_size > 1000
    loaded = create_model("crnn_tiny", weights=out)
    x = torch.randn(1, 1, 32, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)
    if optim != "adam":
        return
    # Fine-tuning starts from those weights (evaluated at step 0) and its card lists both commands.
    tuned_config = CRNNTrainConfig(model="crnn_tiny", samples=32, heldout_samples=16, epochs=1, batch_size=16,
                                   lr=1e-3, workers=1, eval_every=1000, seed=1, init=str(out))
    tuned, tuned_result = train_crnn(tuned_config, log=lambda _: None)
    assert tuned_result.evaluations[0]["step"] == 0 and len(tuned_result.losses) == 2
    assert tuned_result.losses[0] < result.losses[0]  # it starts where the first run left off
    tuned_out = tmp_path / "crnn_tiny_tuned.safetensors"
    write_outputs(tuned, tuned_config, tuned_result, tuned_out, "reelkit train crnn --init crnn_tiny.safetensors")
    card = tuned_out.with_suffix(".md").read_text()
    assert "`reelkit train crnn --model crnn_tiny`; `reelkit train crnn --init crnn_tiny.safetensors`" in card


def _log_probs(rows: list[list[float]]) -> np.ndarray:
    return np.log(np.asarray(rows, dtype=np.float64))


def test_greedy_decoding_collapses_repeats_and_blanks():
    charset = "ab"
    lp = _log_probs([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    assert greedy_decode(lp, charset).text == "aab"


def test_beam_search_sums_alignments_where_greedy_does_not():
    # Best path is blank-blank (p 0.36) but "a" has 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64 in total.
    lp = _log_probs([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_decode(lp, "a").text == ""
    reading = beam_decode(lp, "a", beam_width=4)
    assert reading.text == "a" and reading.confidence == pytest.approx(0.64)


def test_unknown_model_and_missing_weights_are_clear_errors(tmp_path):
    assert {"crnn", "crnn_small", "crnn_tiny"} <= set(list_models())
    with pytest.raises(WeightsError, match="unknown model"):
        create_model("crnn_huge")
    with pytest.raises(WeightsError, match="reelkit train crnn --model crnn_tiny"):
        create_model("crnn_tiny", pretrained=True)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="unreadable"):
        create_model("crnn_small", weights=broken)


def test_shipped_recogniser_reads_heldout_lines():
    """The weights inside the package read lines in fonts and over backgrounds training never saw."""
    recognizer = TextRecognizer()
    generator = LineImageGenerator("heldout")
    rng = np.random.default_rng(123)
    samples = [generator(rng) for _ in range(60)]
    readings = recognizer([s.image for s in samples])
    errors = sum(_distance(r.text.lower(), s.text.lower()) for r, s in zip(readings, samples))
    assert errors / sum(len(s.text) for s in samples) < 0.05
    assert all(0.0 <= r.confidence <= 1.0 for r in readings)


def _distance(a: str, b: str) -> int:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b)


def test_onnxruntime_and_torch_runtimes_give_the_same_log_probs():
    import torch

    onnx_reader = TextRecognizer()
    torch_reader = TextRecognizer(onnx_reader.model, runtime="torch")
    assert onnx_reader._session is not None and torch_reader._session is None
    with pytest.raises(ValueError, match="runtime must be one of"):
        TextRecognizer(onnx_reader.model, runtime="ort")
    rng = np.random.default_rng(5)
    for width in (40, 173, 600):  # the exported graph takes any width and batch size
        lines = torch.from_numpy(rng.uniform(-1, 1, (3, 1, 32, width)).astype(np.float32))
        expected = torch_reader.log_probs(lines)
        assert expected.shape[1] == 3
        np.testing.assert_allclose(onnx_reader.log_probs(lines), expected, atol=1e-4)
    samples = [LineImageGenerator("heldout")(rng) for _ in range(8)]
    for a, b in zip(onnx_reader([s.image for s in samples]), torch_reader([s.image for s in samples])):
        assert a.text == b.text and a.confidence == pytest.approx(b.confidence, abs=1e-4)
