"""A searchable archive of videos and a bot that answers questions about it.

>>> from reelkit.archive import ArchiveIndex, ArchiveBot
>>> index = ArchiveIndex("reelkit-archive/archive.sqlite", create=True)  # doctest: +SKIP
>>> index.add_csv("USvideos.csv")  # doctest: +SKIP
>>> answer = ArchiveBot(index).ask("music videos from October")  # doctest: +SKIP
>>> answer = ArchiveBot(index).ask("only from Taylor Swift", answer.state)  # doctest: +SKIP
"""

from reelkit.archive.bot import Answer, ArchiveBot, Question, QuestionParser
from reelkit.archive.index import CATEGORIES, ArchiveIndex, IndexSummary, VideoRecord, read_trending_csv, record_from_report
from reelkit.archive.search import MODES, Filters, SearchHit, browse, count, fts_query, rrf_fuse, search, similar

__all__ = ["Answer", "ArchiveBot", "ArchiveIndex", "CATEGORIES", "Filters", "IndexSummary", "MODES", "Question",
           "QuestionParser", "SearchHit", "VideoRecord", "browse", "count", "fts_query", "read_trending_csv",
           "record_from_report", "rrf_fuse", "search", "similar"]
