"""Text overlays: synthetic training data, detection, CRNN recognition, filtering and timed output.

>>> from reelkit.text import OverlayExtractor
>>> lines = OverlayExtractor()("clip.mp4")  # doctest: +SKIP
"""

from reelkit.text.dedupe import LineFilter
from reelkit.text.detect import PPOCRDetector, TextBox
from reelkit.text.formats import TimedLine, from_json, parse_cues, to_json, to_srt, to_vtt, write_results
from reelkit.text.lexicon import Lexicon, LexiconCorrector
from reelkit.text.pipeline import ExtractorConfig, OverlayExtractor
from reelkit.text.recognize import Reading, TextRecognizer

__all__ = [
    "ExtractorConfig", "Lexicon", "LexiconCorrector", "LineFilter", "OverlayExtractor", "PPOCRDetector", "Reading",
    "TextBox", "TextRecognizer", "TimedLine", "from_json", "parse_cues", "to_json", "to_srt", "to_vtt", "write_results",
]
