"""reelkit.archive: indexing, hybrid search, the bot's conversations and the ``archive`` CLI.

The archive is built once per module from a few hand-written trending-CSV rows and one hand-written
report.json of ``reelkit analyze``'s format (checked against its schema), with the real MiniLM model.
"""

from __future__ import annotations

import csv
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from reelkit.archive import (Answer, ArchiveBot, ArchiveIndex, Filters, QuestionParser, SearchHit, fts_query,
                             read_trending_csv, rrf_fuse, search, similar)
from reelkit.archive.cli import archive_app
from reelkit.errors import ArchiveError
from tests.conftest import run_cli

TRENDING = Path(__file__).resolve().parents[2] / "shared" / "data" / "youtube_trending" / "USvideos.csv"
HEADER = ["video_id", "title", "channel_title", "category_id", "tags", "views", "likes", "dislikes", "comment_total",
          "date"]
ROWS = [
    ["K4wEI5zhHB0", "iPhone X — Introducing iPhone X — Apple", "Apple", "28", "Apple|iPhone 10|iPhone|Face ID|camera",
     "7860119", "185853", "26679", "0", "13.09"],
    ["K4wEI5zhHB0", "iPhone X — Introducing iPhone X — Apple", "Apple", "28", "Apple|iPhone 10|iPhone|Face ID|camera",
     "12000000", "250000", "30000", "0", "14.09"],
    ["REZl-ANYKKY", "iPhone 8 Plus — Portraits of Her — Apple", "Apple", "28", "Apple|iPhone 8|camera|portrait",
     "183000", "5000", "300", "0", "3.1"],
    ["Nko0mn3r-eM", "Golden Retriever is the Master of Self-Control", "INSIDER", "15",
     "golden retriever|self-control|dog|dog training", "500000", "20000", "100", "900", "20.09"],
    ["J_OyB0k-IVg", "Earthquake kills dozens in central Mexico", "CNN", "25", "earthquake|mexico|breaking news",
     "300000", "2000", "100", "500", "21.09"],
    ["J_OyB0k-IVg", "Earthquake kills dozens in central Mexico", "CNN", "25", "earthquake|mexico|breaking news",
     "310000", "2100", "100", "500", "22.09"],
    ["Xx7sxWI9FNI", "How To Cook Perfect Rice Every Time", "Tasty", "26", "rice|cooking|basics", "900000", "30000",
     "500", "800", "5.1"],
    # A damaged date (as in the real file): the row still counts for views, not for the dates.
    ["Xx7sxWI9FNI", "How To Cook Perfect Rice Every Time", "Tasty", "26", "rice|cooking|basics", "950000", "31000",
     "500", "800", "100"],
    ["CwfoyVa980U", "Charlie Puth - How Long [Official Video]", "Charlie Puth", "10",
     "charlie puth|how long|official video", "5000000", "200000", "3000", "9000", "12.1"],
    ["2Vv-BfVoq4g", "Ed Sheeran - Perfect (Official Music Video)", "Ed Sheeran", "10", "ed sheeran|perfect|love song",
     "30000000", "900000", "9000", "40000", "10.1"],
    ["ah8SQNOXgrQ", "Obsessed With Netflix", "Gus Johnson", "23", "comedy|netflix|sketch", "700000", "40000", "300",
     "2000", "15.09"],
    ["cOlibbx5sx0", "Jimmy Kimmel on Bill Cassidy's Health Care Bill", "Jimmy Kimmel Live", "23",
     "jimmy kimmel|health care|late night", "4000000", "90000", "9000", "20000", "20.09"],
    ["4gKhm09PKPQ", "The rise and fall of the American fallout shelter", "Vox", "25",
     "vox|fallout shelters|nuclear war|history", "1000000", "30000", "400", "3000", "2.1"],
    ["1nEp6DcHwhs", "Tying a Shoe", "Buttered Side Down", "23", "[none]", "100000", "5000", "50", "300", "18.1"],
]
CAT_DAY = date(2017, 10, 8)


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_report(folder: Path) -> Path:
    """A report.json as ``reelkit analyze`` writes it, for a clip of a cat at the piano with two happy faces."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cat_piano.mp4").write_bytes(b"not decoded by the archive")
    line = {"box": [10, 10, 200, 40], "confidence": 0.98}
    report = {
        "reelkit_version": "0.1.0",
        "video": {"path": str(folder / "cat_piano.mp4"), "name": "cat_piano.mp4", "width": 540, "height": 960,
                  "fps": 30.0, "duration": 8.0},
        "headline": "Cat piano lessons",
        "overlays": [{"text": "@whiskers", "start": 0.0, "end": 8.0, **line},
                     {"text": "my cat learns piano", "start": 0.5, "end": 3.0, **line},
                     {"text": "day 12 of practice", "start": 3.2, "end": 6.0, **line}],
        "faces": [{"time": 1.0, "box": [100, 100, 200, 220],
                   "emotion": {"happy": 0.8, "neutral": 0.15, "sad": 0.05}},
                  {"time": 2.0, "box": [110, 100, 210, 220], "emotion": {"happy": 0.6, "surprise": 0.4}}],
        "thumbnails": [{"rank": 1, "time": 1.0, "score": 0.7, "reason": "A clear face.", "scores": {"face": 0.9},
                        "image": "cat_piano_thumb1.jpg"}],
        "thumbnail_note": None,
        "rejected_candidates": {},
        "popularity": {"score": 0.4, "most_attended_time": 1.0, "frames": [{"time": 1.0, "attention": 1.0}],
                       "model": "popularity_small", "images": {"gradcam": "g.jpg", "attention": "a.png"}},
        "headlines": {"original": None, "variants": []},
        "timings": {"total": 1.0},
        "files": {"contact_sheet": None, "report_html": "report.html"},
    }
    path = folder / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    torch.set_num_threads(1)  # tiny batches; and the test machine is shared
    root = tmp_path_factory.mktemp("archive")
    csv_path = write_csv(root / "trending.csv", ROWS)
    report = write_report(root / "cat")
    index = ArchiveIndex(root / "db" / "archive.sqlite", create=True)
    first = index.add_csv(csv_path)
    index.add_report(report, channel="Whiskers", day=CAT_DAY)
    return {"index": index, "csv": csv_path, "report": report, "first": first, "root": root}


@pytest.fixture(scope="module")
def index(built: dict) -> ArchiveIndex:
    return built["index"]


@pytest.fixture(scope="module")
def bot(index: ArchiveIndex) -> ArchiveBot:
    return ArchiveBot(index)


def keys(hits: list[SearchHit]) -> list[str]:
    return [h.key for h in hits]


# -- indexing ----------------------------------------------------------------------------------------------


def test_trending_csv_keeps_one_record_per_video(built: dict) -> None:
    records, skipped = read_trending_csv(built["csv"])
    by_key = {r.key: r for r in records}
    assert len(records) == 11 and skipped == 0
    iphone = by_key["K4wEI5zhHB0"]
    assert (iphone.date_first, iphone.date_last, iphone.views) == (date(2017, 9, 13), date(2017, 9, 14), 12000000)
    assert iphone.category == "Science & Technology" and iphone.url.endswith("K4wEI5zhHB0")
    assert by_key["REZl-ANYKKY"].date_first == date(2017, 10, 3)  # "3.1" lost its trailing zero: 3 October
    rice = by_key["Xx7sxWI9FNI"]
    assert (rice.date_first, rice.date_last, rice.views) == (date(2017, 10, 5), date(2017, 10, 5), 950000)
    assert by_key["1nEp6DcHwhs"].tags == []
    assert built["first"].added == 11 and built["first"].embedded == 11


def test_report_record(index: ArchiveIndex) -> None:
    [cat] = [r for r in index.records_by_key([h.key for h in search(index, "piano", mode="bm25")]) if r.source == "local"]
    assert cat.title == "Cat piano lessons" and cat.channel == "Whiskers" and cat.date_first == CAT_DAY
    assert cat.faces == 2 and cat.emotions == ["happy"]
    assert cat.thumbnail.endswith("cat_piano_thumb1.jpg") and Path(cat.thumbnail).is_absolute()
    assert "day 12 of practice" in cat.overlay_text


def test_hand_written_report_follows_the_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from reelkit.analyze import REPORT_SCHEMA

    jsonschema.validate(json.loads(write_report(tmp_path).read_text()), REPORT_SCHEMA)


def test_reindex_replaces_records(built: dict) -> None:
    index = built["index"]
    before = {r.key: r.to_dict() for r in index.records_by_key([row[0] for row in ROWS])}
    size = len(index)
    again = index.add_csv(built["csv"])
    index.add_report(built["report"], channel="Whiskers", day=CAT_DAY)
    assert (again.added, again.updated, again.embedded) == (0, 11, 0)  # unchanged text: no new embedding
    assert len(index) == size
    assert {r.key: r.to_dict() for r in index.records_by_key(list(before))} == before
    with index.connect() as conn:
        assert conn.execute("SELECT count(*) FROM videos_fts").fetchone()[0] == size
        assert conn.execute("SELECT count(*) FROM embeddings").fetchone()[0] == size
    hits = search(index, "iphone", mode="bm25", limit=20)
    assert len(keys(hits)) == len(set(keys(hits)))


def test_keys_matching_names_videos_by_key_file_report_or_folder(built: dict) -> None:
    index, report = built["index"], built["report"]
    local = index.keys_matching(report)  # the report.json
    assert len(local) == 1 and local[0].startswith("local:")
    assert index.keys_matching(report.parent / "cat_piano.mp4") == local  # the video file
    assert index.keys_matching(report.parent) == local == index.keys_matching(built["root"])  # folders around it
    assert index.keys_matching(local[0]) == local and index.keys_matching("K4wEI5zhHB0") == ["K4wEI5zhHB0"]
    assert index.keys_matching(report.parent / "other.mp4") == [] and index.keys_matching("cat") == []


def test_threads_search_while_another_writes(built: dict) -> None:
    index = built["index"]

    def read(_: int) -> int:
        return len(search(index, "apple phone", mode="hybrid"))

    with ThreadPoolExecutor(4) as pool:
        readers = [pool.submit(read, i) for i in range(12)]
        writer = pool.submit(index.add_csv, built["csv"])
        assert all(r.result() > 0 for r in readers)
        assert writer.result().updated == 11


def test_opening_bad_archives(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no archive"):
        ArchiveIndex(tmp_path / "missing.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all " * 100)
    with pytest.raises(ArchiveError, match="not a reelkit archive"):
        ArchiveIndex(junk)
    with pytest.raises(ArchiveError, match="lacks column"):
        read_trending_csv(write_csv(tmp_path / "bad.csv", [["x", "y"]], header=["video_id", "name"]))


# -- search ------------------------------------------------------------------------------------------------


def test_bm25_finds_an_exact_phrase(index: ArchiveIndex) -> None:
    hits = search(index, "Master of Self-Control", mode="bm25")
    assert hits[0].key == "Nko0mn3r-eM" and hits[0].ranks == {"bm25": 1}


def test_embeddings_find_a_paraphrase(index: ArchiveIndex) -> None:
    question = "puppy waits patiently for a treat"  # not one word in common with the video
    assert search(index, question, mode="bm25") == []
    assert search(index, question, mode="embedding")[0].key == "Nko0mn3r-eM"


def test_hybrid_fuses_both_rankings(index: ArchiveIndex) -> None:
    hits = search(index, "fallout shelter history", mode="hybrid")
    assert hits[0].key == "4gKhm09PKPQ" and set(hits[0].ranks) == {"bm25", "embedding"}
    assert hits[0].score == pytest.approx(2 / 61)  # first in both


def test_rrf_fuse() -> None:
    fused = dict(rrf_fuse([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [item for item, _ in rrf_fuse([[1, 2, 3], [3, 1]])] == [1, 3, 2]


def test_filters_apply_to_every_mode(index: ArchiveIndex) -> None:
    for mode in ("bm25", "embedding", "hybrid"):
        apple = search(index, "iphone camera", Filters(channels=("apple",)), mode=mode)  # any case
        assert apple and {h.record.channel for h in apple} == {"Apple"}
        october = search(index, "iphone camera", Filters(date_from=date(2017, 10, 1), date_to=date(2017, 10, 31)), mode=mode)
        assert "REZl-ANYKKY" in keys(october) and "K4wEI5zhHB0" not in keys(october)
    music = search(index, "official video", Filters(categories=("Music",)), mode="hybrid", limit=10)
    assert set(keys(music)) == {"CwfoyVa980U", "2Vv-BfVoq4g"}
    happy = search(index, "video", Filters(emotion="happy"), limit=10)
    assert [h.record.title for h in happy] == ["Cat piano lessons"]
    assert search(index, "video", Filters(emotion="sad")) == []


def test_similar_leaves_the_video_out(index: ArchiveIndex) -> None:
    hits = similar(index, "K4wEI5zhHB0", limit=3)
    assert "K4wEI5zhHB0" not in keys(hits) and hits[0].key == "REZl-ANYKKY"


@pytest.mark.parametrize("text", ['"', 'iphone"', "NOT", "AND OR NEAR(", "*", "title:iphone", "-rice", "c++ ^ ~ {}",
                                  "what's (this)?", "'); DROP TABLE videos; --", "🙂", "   "])
def test_fts_syntax_never_reaches_the_user(index: ArchiveIndex, bot: ArchiveBot, text: str) -> None:
    search(index, text, mode="bm25")
    search(index, text, mode="hybrid")
    if text.strip():
        assert isinstance(bot.ask(text).text, str)
    assert fts_query("iphone x") == '"iphone x" OR "iphone" OR "x"'


# -- the bot -----------------------------------------------------------------------------------------------


def ask_chain(bot: ArchiveBot, *questions: str) -> list[Answer]:
    """Each answer's state goes with the next question, through JSON as the studio and the CLI keep it."""
    answers, state = [], None
    for question in questions:
        answer = bot.ask(question, state)
        state = json.loads(json.dumps(answer.to_dict()))["state"]
        answers.append(answer)
    return answers


def test_follow_ups_refine_the_last_answer(bot: ArchiveBot) -> None:
    first, apple, october, anytime = ask_chain(bot, "videos about the iphone", "only from Apple", "from October",
                                               "at any time")
    assert first.citations and first.intent == "search"
    assert apple.filters["channels"] == ["Apple"] and {c["channel"] for c in apple.citations} == {"Apple"}
    assert october.filters["channels"] == ["Apple"]
    assert (october.filters["date_from"], october.filters["date_to"]) == ("2017-10-01", "2017-10-31")
    assert [c["key"] for c in october.citations] == ["REZl-ANYKKY"]
    assert anytime.filters["date_from"] is None and anytime.filters["channels"] == ["Apple"]
    for answer in (first, apple, october):
        for n, citation in enumerate(answer.citations, 1):
            assert citation["n"] == n and f"[{n}]" in answer.text and citation["title"] in answer.text


def test_filters_in_a_fresh_question(bot: ArchiveBot) -> None:
    answer = bot.ask("music videos from Ed Sheeran in October")
    assert answer.filters["channels"] == ["Ed Sheeran"] and answer.filters["categories"] == ["Music"]
    assert answer.filters["date_from"] == "2017-10-01"
    assert [c["key"] for c in answer.citations] == ["2Vv-BfVoq4g"]
    december = bot.ask("from December", answer.state)
    assert december.citations == [] and december.filters["date_from"] == "2017-12-01"
    assert "No " in december.text and "date" in december.text  # says which filter empties the list


def test_category_emotion_and_date_follow_ups(bot: ArchiveBot) -> None:
    _, comedy, happy = ask_chain(bot, "what is trending", "comedy ones", "with happy faces")
    assert comedy.filters["categories"] == ["Comedy"]
    assert {c["category"] for c in comedy.citations} == {"Comedy"}
    assert happy.filters["emotion"] == "happy" and happy.citations == []  # the cat video has no category
    _, window = ask_chain(bot, "latest videos", "between 1 and 15 October")
    assert (window.filters["date_from"], window.filters["date_to"]) == ("2017-10-01", "2017-10-15")
    assert window.citations and all("2017-10-01" <= c["date"] <= "2017-10-15" for c in window.citations)
    faces = bot.ask("videos with happy faces")
    assert [c["title"] for c in faces.citations] == ["Cat piano lessons"]


def test_more_like_the_second_one(bot: ArchiveBot) -> None:
    listing, more = ask_chain(bot, "iphone camera", "more like the second one")
    second = listing.citations[1]["key"]
    assert more.intent == "similar" and more.citations
    assert second not in [c["key"] for c in more.citations]
    assert listing.citations[1]["title"] in more.text


def test_questions_about_a_video(bot: ArchiveBot) -> None:
    listing, text, tags, maker, third = ask_chain(bot, "cat playing the piano", "what text appears in it?",
                                                  "what are its tags?", "who made the second one?", "and the third one?")
    assert listing.citations[0]["title"] == "Cat piano lessons"
    assert "my cat learns piano" in text.text and text.citations[0]["title"] == "Cat piano lessons"
    assert text.citations[0]["thumbnail"].endswith("cat_piano_thumb1.jpg")
    assert "no tags" in tags.text
    assert listing.citations[1]["channel"] in maker.text and maker.citations[0]["key"] == listing.citations[1]["key"]
    assert third.citations[0]["key"] == listing.citations[2]["key"] and listing.citations[2]["channel"] in third.text
    youtube = bot.ask("what text appears in it?", bot.ask("Introducing iPhone X").state)
    assert "trending list" in youtube.text  # says why it has no text, rather than nothing


def test_references_without_a_list(bot: ArchiveBot) -> None:
    answer = bot.ask("what are the tags of the second one?")
    assert answer.citations == [] and "Which video" in answer.text
    listing = bot.ask("iphone")
    assert "no number 9" in bot.ask("who made the ninth one?", listing.state).text


def test_state_is_plain_json_and_survives_garbage(bot: ArchiveBot) -> None:
    answer = bot.ask("earthquake news")
    assert json.loads(json.dumps(answer.to_dict())) == answer.to_dict()
    assert answer.filters["categories"] == ["News & Politics"] and answer.citations[0]["key"] == "J_OyB0k-IVg"
    for garbage in ({"version": 99}, {"version": 1, "last": "x", "results": 3}, []):
        assert bot.ask("only from Apple", garbage).citations  # a fresh conversation, not a crash
    with pytest.raises(ArchiveError):
        bot.ask("   ")


def test_parser_reads_dates_against_the_archive(index: ArchiveIndex) -> None:
    parser = QuestionParser(index)

    def dates(question: str) -> tuple:
        f = parser.parse(question, has_context=False).filters
        return f.date_from, f.date_to

    assert dates("in November 2017") == (date(2017, 11, 1), date(2017, 11, 30))
    assert dates("between December 1 and December 15") == (date(2017, 12, 1), date(2017, 12, 15))
    assert dates("after 3 October") == (date(2017, 10, 4), None)
    assert dates("videos since 2017-09-20") == (date(2017, 9, 20), None)
    assert dates("may i see the rice video") == (None, None)
    q = parser.parse("top 3 most viewed comedy videos by jimmy kimmel", has_context=False)
    assert (q.limit, q.sort, q.filters.categories, q.filters.channels) == (3, "views", ("Comedy",), ("Jimmy Kimmel Live",))
    # words from inside a channel's name: a channel after "only from" (or "by"), a place or topic after a bare "from"
    assert parser.parse("only from kimmel live", has_context=True).filters.channels == ("Jimmy Kimmel Live",)
    assert parser.parse("jokes from kimmel live", has_context=False).filters.channels == ()


# -- command line ------------------------------------------------------------------------------------------


def archive_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``reelkit archive ...`` as a user runs it."""
    return run_cli("archive", *args, cwd=cwd)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    write_csv(tmp_path / "bad.csv", [["1", "2"]], header=["id", "name"])
    (tmp_path / "notes.sqlite").write_text("meeting notes\n" * 200)
    ArchiveIndex(tmp_path / "empty.sqlite", create=True)
    cases = {("index", "missing.csv"): "missing.csv not found",
             ("index", "bad.csv"): "lacks column(s) video_id",
             ("ask", "hello"): "no archive at",
             ("ask", "hello", "--db", "notes.sqlite"): "not a reelkit archive",
             ("ask", "hello", "--db", "empty.sqlite"): "is empty",
             ("remove", "K4wEI5zhHB0", "--db", "empty.sqlite"): "matches 'K4wEI5zhHB0'"}
    for args, message in cases.items():
        result = archive_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "reelkit-archive").exists()  # the failed index left no empty archive


def test_cli_index_and_a_conversation(built: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    db = tmp_path / "my" / "archive.sqlite"
    result = runner.invoke(archive_app, ["index", str(built["csv"]), str(built["report"].parent), "--db", str(db),
                                         "--channel", "Whiskers", "--date", "2017-10-08"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["videos"] == 12
    first = runner.invoke(archive_app, ["ask", "iphone videos", "--db", str(db)])
    assert first.exit_code == 0 and "youtube.com/watch?v=K4wEI5zhHB0" in first.output
    follow = runner.invoke(archive_app, ["ask", "only from Apple", "--db", str(db), "--json"])
    answer = json.loads(follow.output)
    assert answer["filters"]["channels"] == ["Apple"] and answer["citations"]
    assert (db.parent / "conversation.json").exists()
    fresh = runner.invoke(archive_app, ["ask", "only from Apple", "--db", str(db), "--json", "--new"])
    assert json.loads(fresh.output)["intent"] == "search"
    stats = json.loads(runner.invoke(archive_app, ["stats", "--db", str(db)]).output)
    assert stats["videos"] == 12 and stats["sources"] == {"local": 1, "youtube": 11}

    missing = runner.invoke(archive_app, ["remove", "K4wEI5zhHB0", "no-such-video", "--db", str(db)])
    assert isinstance(missing.exception, ArchiveError) and "'no-such-video'" in str(missing.exception)
    assert len(ArchiveIndex(db)) == 12  # nothing removed when any target matches nothing
    removed = runner.invoke(archive_app, ["remove", "K4wEI5zhHB0", str(built["report"].parent), "--db", str(db)])
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.output) == {"archive": str(db), "removed": 2, "videos": 10}
    left = json.loads(runner.invoke(archive_app, ["ask", "iphone videos", "--db", str(db), "--json", "--new"]).output)
    assert "K4wEI5zhHB0" not in {c["key"] for c in left["citations"]}
    assert ArchiveIndex(db).stats()["sources"] == {"youtube": 10}


# -- the real trending data --------------------------------------------------------------------------------


@pytest.mark.skipif(not TRENDING.exists(), reason=f"the trending data set is not here ({TRENDING})")
def test_the_real_trending_csv() -> None:
    records, skipped = read_trending_csv(TRENDING)
    assert len(records) == 1985 and skipped == 0
    assert min(r.date_first for r in records) == date(2017, 9, 13)
    assert max(r.date_last for r in records) == date(2017, 10, 22)
    assert all(r.category for r in records)
