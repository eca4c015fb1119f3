"""Start time: whole-process ``checkpoint-qa search "PD-1 resistance" --json`` and time until the chat serves its
page, with each query encoder: OpenVINO (the default when the ``fast`` extra is installed), ONNX Runtime and torch,
interleaved in the same run, after one untimed run of each to warm the disk cache (and OpenVINO's compiled-model
cache). Speed-ups are against torch, measured in the same run.

The chat is "serving" when ``GET /`` answers 200 and the warm-up search (model and indexes loaded) is done,
which ``launch`` does before it binds the port.

    .venv/bin/python benchmarks/start_time.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "assistant"]
BACKENDS = ("openvino", "onnx", "torch")


def environment(backend: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               CHECKPOINT_QA_QUERY_ENCODER=backend)
    env.pop("CHECKPOINT_QA_PORT", None)
    return env


def time_search(backend: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(CLI + ["search", "PD-1 resistance", "--json"], cwd=ROOT, env=environment(backend),
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or not json.loads(done.stdout):
        sys.exit(f"search failed ({backend}): {done.stderr.strip()[-300:]}")
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_chat(backend: str, limit: float = 120.0) -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(CLI + ["chat", "--port", str(port)], cwd=ROOT, env=environment(backend),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < limit:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200 and b"gradio" in response.read().lower():
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.05)
            if process.poll() is not None:
                sys.exit(f"the chat exited with status {process.returncode} ({backend})")
        sys.exit(f"the chat did not serve its page within {limit:.0f} s ({backend})")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    for backend in BACKENDS:  # warm the disk cache (and export the model if it never was)
        time_search(backend)
    search = {b: [] for b in BACKENDS}
    chat = {b: [] for b in BACKENDS}
    for _ in range(args.runs):
        for backend in BACKENDS:
            search[backend].append(time_search(backend))
    for _ in range(max(1, args.runs // 2)):
        for backend in BACKENDS:
            chat[backend].append(time_chat(backend))
    figures = {
        "search_s": {b: round(statistics.median(v), 2) for b, v in search.items()},
        "chat_page_s": {b: round(statistics.median(v), 2) for b, v in chat.items()},
        "runs": args.runs,
    }
    for what in ("search_s", "chat_page_s"):
        figures[what.replace("_s", "_speedup_vs_torch")] = {b: round(figures[what]["torch"] / figures[what][b], 2)
                                                            for b in BACKENDS if b != "torch"}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"checkpoint-qa search \"PD-1 resistance\" --json (median of {args.runs}, whole process):")
    for b in BACKENDS:
        ratio = figures["search_speedup_vs_torch"].get(b)
        print(f"  {b:>8} query encoder: {figures['search_s'][b]:.2f} s"
              + (f"  ({ratio:.2f}x torch)" if ratio else ""))
    print("checkpoint-qa chat, launch to page served (model and indexes warmed first):")
    for b in BACKENDS:
        ratio = figures["chat_page_speedup_vs_torch"].get(b)
        print(f"  {b:>8} query encoder: {figures['chat_page_s'][b]:.2f} s"
              + (f"  ({ratio:.2f}x torch)" if ratio else ""))


if __name__ == "__main__":
    main()
