"""Soak test: 50 concurrent clients against `checkpoint-qa serve` for 5 minutes while an ingest lands in its
knowledge base every 30 seconds.

It copies nothing the user has: the shipped corpus is built into a temporary folder, `serve` runs on it as a
separate process (as users run it), clients send /search (most), /ask, /health and /records requests over
127.0.0.1, and a separate `checkpoint-qa ingest` adds one new paper every 30 s. The clients first run a warm-up
under full load (``--warm-up``, 30 s: the server's worker threads and the encoder's per-thread buffers are
allocated then), after which the memory baseline is taken and the measured period and the ingests begin. It prints
latency percentiles, the error count (must be 0), the knowledge-base versions the server reported, and the server's
resident memory sampled every 30 s (growth from the baseline to the end must stay within 10%); the exit status is 1
when either fails.

    .venv/bin/python benchmarks/soak.py [--clients 50] [--seconds 300] [--ingest-every 30] [--model hash:256]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "assistant"]
QUERIES = ["JAK1 JAK2 mutations resistance", "B2M loss acquired resistance", "gut microbiome anti-PD-1",
           "PTEN loss immunotherapy", "tumour mutational burden response", "interferon gamma signalling",
           "T cell exhaustion TIM-3 LAG-3", "hyperprogression", "PD-L1 expression biomarker", "WNT beta-catenin"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--ingest-every", type=float, default=30)
    parser.add_argument("--warm-up", type=float, default=30)
    parser.add_argument("--model", default=None, help="embedding model (default: the packaged MiniLM)")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    work = Path(tempfile.mkdtemp(prefix="cqa-soak-"))
    index = work / "kb"
    model = ["--model", args.model] if args.model else []
    subprocess.run([*CLI, "build", "--index", str(index), *model], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen([*CLI, "serve", "--index", str(index), "--port", str(port), *model], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("serve did not come up: " + (server.stderr.read() if server.stderr else ""))
        with httpx.Client(timeout=30) as warm:  # warm-up, so the memory baseline includes loaded indexes
            for q in QUERIES:
                warm.post(f"{base}/search", json={"query": q, "k": 8})
                warm.post(f"{base}/ask", json={"question": q})
        single_client_rss = rss_mib(server.pid)
        latencies: list[float] = []
        errors: list[str] = []
        versions: set[str] = set()
        samples: list[float] = []
        lock = threading.Lock()
        begin = time.monotonic() + args.warm_up
        stop = begin + args.seconds

        def client(seed: int) -> None:
            rnd = random.Random(seed)
            with httpx.Client(timeout=60) as http:
                while time.monotonic() < stop:
                    roll = rnd.random()
                    t = time.perf_counter()
                    try:
                        if roll < 0.75:
                            r = http.post(f"{base}/search", json={"query": rnd.choice(QUERIES), "k": 8})
                        elif roll < 0.85:
                            r = http.post(f"{base}/ask", json={"question": rnd.choice(QUERIES) + "?"})
                        elif roll < 0.95:
                            r = http.get(f"{base}/health")
                        else:
                            r = http.get(f"{base}/records/pmid:27903500")
                        ok = r.status_code == 200
                        detail = f"{r.status_code} {r.text[:120]}"
                        if ok and roll >= 0.85 and roll < 0.95:
                            with lock:
                                versions.add(r.json()["knowledge_base"])
                    except httpx.HTTPError as exc:
                        ok, detail = False, f"{type(exc).__name__}: {exc}"
                    elapsed = time.perf_counter() - t
                    with lock:
                        if time.monotonic() >= begin:
                            latencies.append(elapsed)
                        if not ok:
                            errors.append(detail)

        def sampler() -> None:
            while time.monotonic() < begin:
                time.sleep(0.2)
            while time.monotonic() < stop:
                samples.append(rss_mib(server.pid))
                time.sleep(min(30.0, max(0.0, stop - time.monotonic())))

        def ingester() -> None:
            n = 0
            while time.monotonic() < begin:
                time.sleep(0.2)
            while time.monotonic() + 1 < stop:
                time.sleep(min(args.ingest_every, max(0.0, stop - time.monotonic())))
                if time.monotonic() >= stop:
                    break
                n += 1
                path = work / f"new-{n}.jsonl"
                path.write_text(json.dumps({"id": f"soak:{n}", "type": "abstract", "title": f"Soak paper {n}",
                                            "text": f"LAG-3 upregulation {n} after PD-1 blockade in melanoma."})
                                + "\n")
                done = subprocess.run([*CLI, "ingest", str(path), "--index", str(index), *model], env=env, cwd=ROOT,
                                      capture_output=True, text=True)
                if done.returncode:
                    with lock:
                        errors.append(f"ingest {n} failed: {done.stderr.strip()[-200:]}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        threads += [threading.Thread(target=ingester), threading.Thread(target=sampler)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(2)
        end_rss = rss_mib(server.pid)
        final = httpx.get(f"{base}/health").json()
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = np.array(latencies) * 1000
    start_rss = samples[0]
    growth = (end_rss - start_rss) / start_rss
    print(f"soak: {args.clients} clients, {args.seconds:.0f} s, an ingest every {args.ingest_every:.0f} s, "
          f"model {args.model or 'all-MiniLM-L6-v2'}")
    print(f"requests {len(ms)} ({len(ms) / args.seconds:.1f}/s); latency ms p50 {np.percentile(ms, 50):.1f}, "
          f"p95 {np.percentile(ms, 95):.1f}, p99 {np.percentile(ms, 99):.1f}")
    print(f"errors {len(errors)}" + (f"; first: {errors[0]}" if errors else ""))
    print(f"knowledge-base versions seen by /health: {len(versions)}; records at the end: {final['records']}")
    print(f"server resident memory: {single_client_rss:.0f} MiB after a one-client warm-up, {start_rss:.0f} MiB after "
          f"{args.warm_up:.0f} s under load (baseline), {end_rss:.0f} MiB at the end ({growth:+.1%}); every 30 s: "
          + ", ".join(f"{m:.0f}" for m in samples))
    return 1 if errors or growth > 0.10 else 0


if __name__ == "__main__":
    sys.exit(main())
