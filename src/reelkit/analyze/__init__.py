"""Everything reelkit does to one video, in one report (``reelkit analyze``).

>>> from reelkit.analyze import VideoAnalyzer
>>> report = VideoAnalyzer()("clip.mp4", "out/", headline="My cat learns piano")  # doctest: +SKIP
"""

from reelkit.analyze.pipeline import AnalyzeConfig, VideoAnalyzer
from reelkit.analyze.report import REPORT_SCHEMA, render_html

__all__ = ["AnalyzeConfig", "REPORT_SCHEMA", "VideoAnalyzer", "render_html"]
