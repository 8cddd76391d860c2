"""Page and API latency of the studio under a bounded local load.

A real ``reelkit studio`` server (one worker) gets the bundled example uploaded and analysed, and the
demo archive (../shared/data/youtube_trending/USvideos.csv, when present, plus that upload) indexed;
then, for each route, ``--clients`` threads send ``--requests`` requests each, with no pause, and the
latency of every request is recorded. Writes docs/benchmarks/studio.json and prints a Markdown table.

    .venv/bin/python benchmarks/studio_load.py [--clients 8] [--requests 25]
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from arguments import ArgumentParser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.studio_server import StudioServer  # noqa: E402  (the same launcher the end-to-end tests use)

TRENDING = ROOT.parent / "shared" / "data" / "youtube_trending" / "USvideos.csv"


def measure(server: StudioServer, label: str, method: str, path: str, body: dict | None, clients: int,
            requests: int) -> dict:
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client_loop() -> None:
        with server.client() as client:
            for _ in range(requests):
                started = time.perf_counter()
                response = client.request(method, path, json=body)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status_code >= 400:
                        failures.append(response.status_code)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {"route": f"{method} {label}", "clients": clients, "requests": len(latencies), "errors": len(failures),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "throughput_rps": round(len(latencies) / wall, 1)}


def main() -> None:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "studio.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "studio"
        archive = data / "archive.sqlite"
        if TRENDING.exists():
            data.mkdir()
            subprocess.run([str(Path(sys.executable).parent / "reelkit"), "archive", "index", str(TRENDING),
                            "--db", str(archive)], check=True)
        server = StudioServer(data, workers=1, archive=archive).start()
        try:
            with server.client() as client:
                video = client.post("/api/videos", params={"filename": "demo.mp4", "headline": "what they want to do"},
                                    content=(ROOT / "examples" / "demo.mp4").read_bytes()).json()
            job = server.wait_for_job(video["job"]["id"])
            assert job["status"] == "done", job
            with server.client() as client:  # the first call of each model loads it; not part of the load test
                client.post("/api/headlines/score", json={"headlines": ["warm up"]})
                client.post("/api/archive/ask", json={"question": "warm up"})
            routes = [("/ (page)", "GET", "/", None),
                      ("/videos/{id} (results page)", "GET", f"/videos/{video['id']}", None),
                      ("/api/videos", "GET", "/api/videos", None),
                      ("/api/jobs/{id}", "GET", f"/api/jobs/{job['id']}", None),
                      ("/media/{id}/{thumbnail}", "GET", f"/media/{video['id']}/source_thumb1.jpg", None),
                      ("/api/headlines/score", "POST", "/api/headlines/score",
                       {"headlines": ["I Tried 5 Viral Hacks So You Don't Have To"]}),
                      ("/api/archive/ask", "POST", "/api/archive/ask", {"question": "funny videos about cats"})]
            # One client alone, then the load: what a request costs, and what it costs when others wait too.
            rows = [measure(server, *route, clients, requests) for route in routes
                    for clients, requests in ((1, args.requests), (args.clients, args.requests))]
        finally:
            server.stop()
    result = {"command": "python benchmarks/studio_load.py " + " ".join(sys.argv[1:]),
              "machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs",
              "clients": args.clients, "requests_per_client": args.requests,
              "archive": "USvideos.csv + the example" if TRENDING.exists() else "the example only", "routes": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| route | clients | requests | errors | p50 ms | p95 ms | req/s |\n|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| `{row['route']}` | {row['clients']} | {row['requests']} | {row['errors']} | {row['p50_ms']} | "
              f"{row['p95_ms']} | {row['throughput_rps']} |")


if __name__ == "__main__":
    main()
