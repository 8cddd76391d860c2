"""Popularity from frames and headline, explained by soft attention over time and Grad-CAM.

>>> from reelkit.popularity import PopularityPredictor
>>> report = PopularityPredictor.from_name()("clip.mp4", "My cat learns piano")  # doctest: +SKIP
"""

from reelkit.popularity.archive import ArchiveVideo, read_archive
from reelkit.popularity.gradcam import GradCAM
from reelkit.popularity.models import CONFIGS, PopularityConfig, PopularityNet
from reelkit.popularity.pipeline import PopularityPredictor, PopularityReport, write_explanations

__all__ = ["ArchiveVideo", "CONFIGS", "GradCAM", "PopularityConfig", "PopularityNet", "PopularityPredictor",
           "PopularityReport", "read_archive", "write_explanations"]
