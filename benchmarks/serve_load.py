"""Many clients against ``checkpoint-qa serve --workers N``, with a version swap in the middle.

Starts the API on a built knowledge base (``--index``; e.g. the million-passage one ``kb_scale.py`` leaves in
``/tmp/kb-scale/index``), then ``--clients`` threads each send ``--requests`` searches (hybrid, k 10, the query
encoded by the server) as fast as answers come back. Halfway through, a new version is made live the way a build
makes one (a complete version folder beside the old one, hard-linked here, then ``CURRENT`` replaced), so every
worker switches versions under load. Reports latency p50/p95/p99, throughput, every error, and which versions
answered.

    .venv/bin/python benchmarks/serve_load.py --index /tmp/kb-scale/index --workers 2 --clients 50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.kb.synthetic import CANCERS, GENES, THERAPIES  # noqa: E402
from assistant.kb.store import KnowledgeBase, _point_at  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_version(index: Path) -> str:
    """A copy of the live version under a new name (hard links: the same bytes), then ``CURRENT`` swapped."""
    live = KnowledgeBase.live_version(index)
    name = f"{live.name}-swap{int(time.time())}"
    staging = index / f".building-{os.getpid()}-swap"
    shutil.copytree(live, staging, copy_function=os.link)
    os.rename(staging, index / name)
    _point_at(index, name)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--index", str(args.index), "--port",
                               str(port), "--workers", str(args.workers)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.time()
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.time() - started > 300:
                raise SystemExit(f"the server did not start: {server.stderr.read()[-2000:]}")
            time.sleep(0.5)
        start_s = time.time() - started
        latencies, errors, versions = [], [], {}
        lock = threading.Lock()
        done = [0]
        total = args.clients * args.requests

        def client(n: int) -> None:
            with httpx.Client(base_url=base, timeout=60) as http:
                for i in range(args.requests):
                    query = (f"{GENES[(n + i) % len(GENES)]} loss and resistance to {THERAPIES[i % len(THERAPIES)]}"
                             f" in {CANCERS[(n * 7 + i) % len(CANCERS)]}")
                    t = time.perf_counter()
                    try:
                        response = http.post("/search", json={"query": query, "k": 10})
                        ok = response.status_code == 200 and response.json()["hits"]
                        problem = None if ok else f"{response.status_code}: {response.text[:200]}"
                    except httpx.HTTPError as exc:
                        problem = f"{type(exc).__name__}: {exc}"
                    with lock:
                        latencies.append(time.perf_counter() - t)
                        done[0] += 1
                        if problem:
                            errors.append(problem)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        while done[0] < total // 2:
            time.sleep(0.05)
        swapped_to = new_version(args.index)
        swap_at = done[0]
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - t0
        for _ in range(args.workers * 8):  # which version each worker answers from now
            versions[httpx.get(f"{base}/health").json()["knowledge_base"]] = True
        ms = sorted(1000 * x for x in latencies)
        out = {"workers": args.workers, "clients": args.clients, "requests": len(latencies), "errors": len(errors),
               "first_errors": errors[:5], "server_start_s": round(start_s, 1),
               "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
               "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1), "queries_per_s": round(len(ms) / wall, 1),
               "swapped_after_requests": swap_at, "swapped_to": swapped_to,
               "versions_answering_after": sorted(versions)}
        print(json.dumps(out, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
