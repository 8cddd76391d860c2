"""The exception hierarchy: one type per capability, all derived from :class:`ReelkitError`.

The CLI turns any :class:`ReelkitError` into a one-line message and exit code 2.
"""


class ReelkitError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class VideoError(ReelkitError):
    """A video that cannot be opened or decoded."""


class WeightsError(ReelkitError):
    """A model whose weights are missing, unknown or do not match its configuration."""


class SynthError(ReelkitError):
    """Synthetic data cannot be generated (missing fonts or text corpus)."""


class OutputError(ReelkitError):
    """Results cannot be written where the user asked."""


class TextError(ReelkitError):
    """Text detection or recognition cannot run on the given input."""


class GANError(ReelkitError):
    """A GAN cannot be trained or evaluated: missing data, a config that does not fit it, diverged losses."""


class HeadlineError(ReelkitError):
    """Headlines cannot be scored: an empty headline, an unreadable file, missing training data."""


class PopularityError(ReelkitError):
    """Popularity cannot be trained or predicted: a malformed archive, missing videos, too little data."""


class ThumbnailError(ReelkitError):
    """No thumbnail can be chosen: a video without a single usable frame, or k out of range."""

    def __init__(self, message: str, rejected: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.rejected = dict(rejected or {})  # candidate frames rejected, by reason, when none was usable


class StudioError(ReelkitError):
    """The studio cannot start or serve: an unusable data folder or database, a bad setting."""


class ArchiveError(ReelkitError):
    """The video archive cannot be built or searched: a missing or malformed source, a file that is not an archive."""


class FaceError(ReelkitError):
    """Faces cannot be found or analysed: an unreadable image or video, missing face data, a bad option."""


class SegmentError(ReelkitError):
    """Subjects cannot be segmented: an unreadable image, an unknown method or model, a bad scene setting."""
