"""reelkit: read, judge and improve short-form videos."""

__version__ = "0.1.0"
