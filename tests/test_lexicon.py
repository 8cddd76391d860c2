import itertools

import numpy as np
import pytest

from reelkit.text.lexicon import Lexicon, LexiconCorrector, ctc_log_likelihood
from reelkit.text.recognize import Reading, greedy_decode
from reelkit.text.synth import CHARSET

def frames_for(plan: list[dict[str, float]]) -> np.ndarray:
    """CTC log-probabilities from a plan: per character frame, the probabilities of its readings ("" for the
    blank); each is followed by a blank frame. Remaining mass is spread over the other classes."""
    rows = []
    for options in plan:
        for probabilities in (options, {}):
            row = np.full(len(CHARSET) + 1, 1e-6)
            if probabilities:
                for char, p in probabilities.items():
                    row[CHARSET.index(char) + 1 if char else 0] = p
            else:
                row[0] = 0.9
            row /= row.sum()
            rows.append(np.log(row))
    return np.stack(rows).astype(np.float32)


def spelled(text: str, doubts: dict[int, dict[str, float]] | None = None) -> np.ndarray:
    doubts = doubts or {}
    return frames_for([doubts.get(i, {c: 0.99}) for i, c in enumerate(text)])


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.english()


def test_english_lexicon_holds_common_words_and_finds_near_ones(lexicon):
    assert "truly" in lexicon and "Understand" in lexicon and "fruly" not in lexicon
    assert lexicon.neighbours("fruly", 1)[0] == "truly"
    assert "understand" in lexicon.neighbours("undersfand", 2)
    assert all(abs(len(w) - 10) <= 2 for w in lexicon.neighbours("undersfand", 2))
    assert lexicon.common("the") and not lexicon.common("horseshoe")


def test_ctc_likelihood_sums_every_alignment():
    rng = np.random.default_rng(0)
    charset = "ab"
    log_probs = np.log(rng.dirichlet(np.ones(3), size=4)).astype(np.float32)  # 4 frames, blank + a + b
    brute = {}
    for path in itertools.product(range(3), repeat=4):
        collapsed = [k for k, _ in itertools.groupby(path) if k != 0]
        text = "".join(charset[k - 1] for k in collapsed)
        brute[text] = np.logaddexp(brute.get(text, -np.inf), sum(log_probs[t, k] for t, k in enumerate(path)))
    texts = ["a", "ab", "ba", "aa", "abab"]
    np.testing.assert_allclose(ctc_log_likelihood(log_probs, texts, charset), [brute[t] for t in texts], rtol=1e-5)


def test_a_doubtful_letter_is_read_as_the_listed_word(lexicon):
    log_probs = spelled("a man to fruly", {9: {"f": 0.6, "t": 0.35}})
    reading = greedy_decode(log_probs, CHARSET)
    assert reading.text == "a man to fruly"
    corrected = LexiconCorrector(lexicon)(reading, log_probs, CHARSET)
    assert corrected.text == "a man to truly" and corrected.confidence == reading.confidence


def test_a_confident_reading_outside_the_lexicon_stays(lexicon):
    log_probs = spelled("a man to fruly", {9: {"f": 0.999, "t": 0.0005}})
    reading = greedy_decode(log_probs, CHARSET)
    assert LexiconCorrector(lexicon)(reading, log_probs, CHARSET).text == "a man to fruly"
    assert LexiconCorrector(lexicon, bonus=0.0)(reading, log_probs, CHARSET).text == "a man to fruly"


def test_a_lost_space_is_restored_and_case_and_punctuation_kept(lexicon):
    # "YOURFRIEND." with a space the network half saw between R and F
    plan = [{c: 0.99} for c in "YOUR"] + [{"": 0.6, " ": 0.35}] + [{c: 0.99} for c in "FRIEND."]
    log_probs = frames_for(plan)
    reading = greedy_decode(log_probs, CHARSET)
    assert reading.text == "YOURFRIEND."  # the blank wins the doubtful frame
    assert LexiconCorrector(lexicon)(reading, log_probs, CHARSET).text == "YOUR FRIEND."


def test_handles_numbers_and_short_words_are_left_alone(lexicon):
    corrector = LexiconCorrector(lexicon, bonus=50.0)  # would take any listed word if it were asked
    for text in ("@fruly_2", "#frulyday", "b4ck", "fo"):
        log_probs = spelled(text)
        reading = greedy_decode(log_probs, CHARSET)
        assert corrector(reading, log_probs, CHARSET) is reading


def test_two_words_each_corrected_in_one_line(lexicon):
    log_probs = spelled("fruly undersfand", {0: {"f": 0.6, "t": 0.35}, 12: {"f": 0.5, "t": 0.45}})
    reading = Reading(greedy_decode(log_probs, CHARSET).text, 0.9)
    assert LexiconCorrector(lexicon)(reading, log_probs, CHARSET).text == "truly understand"


def test_lexicon_decoding_reads_held_out_lines_at_least_as_well_as_the_network_alone():
    from rapidfuzz.distance import Levenshtein

    from reelkit.text.recognize import TextRecognizer
    from reelkit.text.train import generate_lines

    lines = generate_lines("heldout", 300, seed=4_242, workers=1)
    crops = [np.repeat(image[..., None], 3, axis=2) for image, _ in lines]
    plain = TextRecognizer(corrector=None)
    corrected = TextRecognizer(plain.model, corrector=LexiconCorrector(Lexicon.english()))
    scores = {}
    for name, recognizer in (("plain", plain), ("lexicon", corrected)):
        texts = [r.text for r in recognizer(crops)]
        scores[name] = (sum(t == truth for t, (_, truth) in zip(texts, lines)),
                        sum(Levenshtein.distance(t, truth) for t, (_, truth) in zip(texts, lines)))
    assert scores["lexicon"][0] > scores["plain"][0]
    assert scores["lexicon"][1] < scores["plain"][1]


def test_a_channels_own_words_join_the_lexicon(lexicon, tmp_path):
    from reelkit.text.lexicon import read_word_list

    words = tmp_path / "words.txt"
    words.write_text("Kezar, yeet\nB4\n  Guv'nor  \n")
    assert read_word_list(words) == ["Kezar", "yeet"]
    log_probs = spelled("at Kezor", {6: {"o": 0.6, "a": 0.35}})
    reading = greedy_decode(log_probs, CHARSET)
    assert LexiconCorrector(lexicon)(reading, log_probs, CHARSET).text == "at Kezor"  # no listed word near
    own = lexicon.with_words(read_word_list(words))
    assert "yeet" in own and "yeet" not in lexicon
    assert LexiconCorrector(own)(reading, log_probs, CHARSET).text == "at Kezar"


@pytest.mark.parametrize("content, message", [(None, "not found"), (b"\xff\xfe\x00junk", "not UTF-8"),
                                              (b"1234 @@@", "no words"), ("folder", "cannot read")])
def test_unusable_word_lists_are_refused(tmp_path, content, message):
    from reelkit.errors import TextError
    from reelkit.text.lexicon import read_word_list

    path = tmp_path / "words.txt"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(TextError, match=message):
        read_word_list(path)
