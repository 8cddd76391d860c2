"""Archive search: BM25 alone, embeddings alone and their RRF fusion, asked through ``ArchiveBot``.

Builds a fresh archive from the trending CSV (timing the indexing), asks every question of
``benchmarks/archive_questions.json`` in each mode (a new conversation each), and scores the cited
videos against the expected ones: recall@5 (the share of a question's expected videos in the first 5,
out of at most 5) and MRR@10 (1 / rank of the first expected video in the first 10, else 0). Then times
``ArchiveBot.ask`` in the default (hybrid) mode over every question and two follow-ups of each
("more like the second one", "what text appears in it?"), after one warm-up question.

    .venv/bin/python benchmarks/archive.py [--csv ../shared/data/youtube_trending/USvideos.csv] [--threads 1]

Writes docs/benchmarks/archive.json and prints a markdown table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import torch
from arguments import ArgumentParser

ROOT = Path(__file__).resolve().parent.parent
MODES = ("bm25", "embedding", "hybrid")
FOLLOW_UPS = ("more like the second one", "what text appears in it?")


def score(cited: list[str], expected: list[str]) -> tuple[float, float]:
    """recall@5 and reciprocal rank (in the first 10) of one question."""
    recall = len(set(cited[:5]) & set(expected)) / min(5, len(expected))
    rank = next((i for i, key in enumerate(cited[:10], 1) if key in expected), None)
    return recall, (1.0 / rank if rank else 0.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=ROOT.parent / "shared" / "data" / "youtube_trending" / "USvideos.csv")
    parser.add_argument("--questions", type=Path, default=ROOT / "benchmarks" / "archive_questions.json")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (embedding)")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "benchmarks" / "archive.json")
    args = parser.parse_args()
    if not args.csv.exists():
        sys.exit(f"trending CSV {args.csv} not found")
    torch.set_num_threads(args.threads)

    from reelkit.archive import ArchiveBot, ArchiveIndex
    from reelkit.archive.index import read_trending_csv
    from reelkit.embeddings import embed_sentences

    questions = json.loads(args.questions.read_text())["questions"]
    started = time.perf_counter()
    embed_sentences(["load the model"])
    model_load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        index = ArchiveIndex(Path(folder) / "archive.sqlite", create=True)
        started = time.perf_counter()
        summary = index.add_csv(args.csv)
        index_s = time.perf_counter() - started
        size_mb = os.path.getsize(index.path) / 1e6
        records, _ = read_trending_csv(args.csv)

        results: dict[str, dict] = {}
        per_question: list[dict] = [{"question": q["question"], "kind": q["kind"], "expected": q["expected"]}
                                    for q in questions]
        for mode in MODES:
            bot = ArchiveBot(index, mode=mode, limit=10)
            scores = []
            for q, row in zip(questions, per_question):
                cited = [c["key"] for c in bot.ask(q["question"]).citations]
                recall, rr = score(cited, q["expected"])
                scores.append((q["kind"], recall, rr))
                row[mode] = {"recall@5": recall, "rr@10": rr, "top5": cited[:5]}
            results[mode] = {
                kind: {"recall@5": round(statistics.mean(r for k, r, _ in scores if kind in ("all", k)), 3),
                       "mrr@10": round(statistics.mean(rr for k, _, rr in scores if kind in ("all", k)), 3),
                       "questions": sum(1 for k, _, _ in scores if kind in ("all", k))}
                for kind in ("all", "exact", "paraphrase")}

        bot = ArchiveBot(index)  # hybrid, 5 per answer: what users get
        started = time.perf_counter()
        bot.ask("warm up")
        first_ask_s = time.perf_counter() - started
        latencies = []
        for q in questions:
            state = None
            for text in (q["question"], *FOLLOW_UPS):
                started = time.perf_counter()
                state = bot.ask(text, state).state
                latencies.append(time.perf_counter() - started)

    report = {
        "command": ".venv/bin/python benchmarks/archive.py" + (f" --threads {args.threads}" if args.threads != 1 else ""),
        "date": datetime.now().isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}, PyTorch {torch.__version__} CPU, {args.threads} thread(s)",
        "archive": {"csv": os.path.relpath(args.csv, ROOT),
                    "videos": len(records), "sqlite_mb": round(size_mb, 1)},
        "indexing": {"seconds": round(index_s, 1), "embedded": summary.embedded,
                     "model_load_seconds": round(model_load_s, 1)},
        "questions": {"total": len(questions), "exact": sum(q["kind"] == "exact" for q in questions),
                      "paraphrase": sum(q["kind"] == "paraphrase" for q in questions),
                      "file": os.path.relpath(args.questions, ROOT)},
        "retrieval": results,
        "latency_ms": {"asks": len(latencies), "p50": round(1000 * percentile(latencies, 0.5), 1),
                       "p95": round(1000 * percentile(latencies, 0.95), 1), "max": round(1000 * max(latencies), 1),
                       "first_ask_after_open": round(1000 * first_ask_s, 1)},
        "per_question": per_question,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")

    counts = report["questions"]
    print(f"{len(records)} videos indexed in {index_s:.1f} s (model load {model_load_s:.1f} s); "
          f"{len(questions)} questions ({counts['exact']} exact, {counts['paraphrase']} paraphrase)\n")
    print("| mode | recall@5 | MRR@10 | recall@5 exact | MRR@10 exact | recall@5 paraphrase | MRR@10 paraphrase |")
    print("|---|---|---|---|---|---|---|")
    for mode in MODES:
        r = results[mode]
        print(f"| {mode} | {r['all']['recall@5']:.3f} | {r['all']['mrr@10']:.3f} | {r['exact']['recall@5']:.3f} | "
              f"{r['exact']['mrr@10']:.3f} | {r['paraphrase']['recall@5']:.3f} | {r['paraphrase']['mrr@10']:.3f} |")
    lat = report["latency_ms"]
    print(f"\nArchiveBot.ask (hybrid), {lat['asks']} asks: p50 {lat['p50']} ms, p95 {lat['p95']} ms, max {lat['max']} ms")


if __name__ == "__main__":
    main()
